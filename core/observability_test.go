package core_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lightningdb/lightning/core"
)

// TestMetricsAndSpans checks that a MeterProvider sees the same figures as
// Stats, through asynchronous instruments, and that slow work is traced.
func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	db, _ := openMem(t, func(o *core.Options) { o.MeterProvider = mp; o.TracerProvider = tp })

	for i := 0; i < 7; i++ {
		require.NoError(t, db.Put(key(i), []byte("v")))
	}
	_, _ = db.Get(key(1))
	require.NoError(t, db.Flush())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				got[m.Name] = d.DataPoints[0].Value
			case metricdata.Gauge[int64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	st := db.Stats()
	require.Equal(t, st.Puts, got["lightning.puts"])
	require.Equal(t, st.Commits, got["lightning.commits"])
	require.Equal(t, st.Gets, got["lightning.gets"])
	require.Equal(t, int64(st.VisibleTs), got["lightning.ts.visible"])
	require.Equal(t, int64(1), got["lightning.flushes"])

	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	require.Contains(t, names, "lightning.open")
	require.Contains(t, names, "lightning.recover")
	require.Contains(t, names, "lightning.flush")
}
