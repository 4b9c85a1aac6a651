package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart file base names written by WriteCharts; each is written as .png and
// .svg.
const (
	ChartRelative   = "relative"
	ChartThroughput = "throughput"
	ChartLatency    = "latency"
)

// familyPalette colours engines by family: Lightning in warm tones (one per
// option set), each peer in its own cool tone, so an engine keeps its
// colour across every chart of a report.
var familyPalette = map[string][]color.RGBA{
	"lightning": {
		{0xE4, 0x57, 0x2E, 0xFF}, {0xF3, 0xA7, 0x12, 0xFF}, {0xA8, 0x20, 0x1A, 0xFF},
		{0xFF, 0x8C, 0x42, 0xFF}, {0xC9, 0x7B, 0x63, 0xFF}, {0x8C, 0x4A, 0x2F, 0xFF},
		{0xF4, 0xD0, 0x3F, 0xFF}, {0xD6, 0x4F, 0x7A, 0xFF},
	},
	"pebble":    {{0x2E, 0x86, 0xAB, 0xFF}},
	"badger":    {{0x3B, 0xB2, 0x73, 0xFF}},
	"bbolt":     {{0x77, 0x68, 0xAE, 0xFF}},
	"goleveldb": {{0x6C, 0x75, 0x7D, 0xFF}},
}

var fallbackPalette = []color.RGBA{
	{0x1B, 0x4F, 0x72, 0xFF}, {0x17, 0xA5, 0x89, 0xFF}, {0x88, 0x4E, 0xA0, 0xFF}, {0x5D, 0x6D, 0x7E, 0xFF},
}

// engineColors assigns each engine its colour.
func engineColors(engines []*EngineResult) []color.Color {
	used := map[string]int{}
	out := make([]color.Color, len(engines))
	other := 0
	for i, e := range engines {
		pal, ok := familyPalette[e.Family]
		if !ok {
			out[i] = fallbackPalette[other%len(fallbackPalette)]
			other++
			continue
		}
		out[i] = pal[used[e.Family]%len(pal)]
		used[e.Family]++
	}
	return out
}

// WriteCharts renders the report's charts into dir, as PNG and SVG, and
// returns the paths written:
//
//   - relative: every workload on one axis, each engine's throughput as a
//     percentage of the best engine on that workload (the README chart);
//   - throughput: one panel per workload, absolute ops/s per engine;
//   - latency: one panel per workload, p50 and p99 per engine.
func (r *Report) WriteCharts(dir string) ([]string, error) {
	engines := r.ranEngines()
	wls := r.workloadsRun()
	if len(engines) == 0 || len(wls) == 0 {
		return nil, fmt.Errorf("bench: no measurements to chart")
	}
	colors := engineColors(engines)
	title := fmt.Sprintf("%d records, %d-B values, %s", r.Config.N, r.Config.ValueSize, r.Machine.CPU)
	var paths []string
	for _, c := range []struct {
		name string
		w, h vg.Length
		draw func(dc draw.Canvas) error
	}{
		{ChartRelative, 15 * vg.Inch, 5.5 * vg.Inch, func(dc draw.Canvas) error {
			return drawRelative(dc, engines, colors, wls, title)
		}},
		{ChartThroughput, 16 * vg.Inch, tileFigureHeight(len(wls), len(engines)), func(dc draw.Canvas) error {
			return drawTiles(dc, engines, colors, wls,
				"Throughput per workload (higher is better)", title, throughputPanel)
		}},
		{ChartLatency, 16 * vg.Inch, tileFigureHeight(len(latencyWorkloads(wls)), len(engines)), func(dc draw.Canvas) error {
			return drawTiles(dc, engines, colors, latencyWorkloads(wls),
				"Latency per call: p50 (dot) to p99 (ring), log scale, lower is better", title, latencyPanel)
		}},
	} {
		for _, ext := range []string{"png", "svg"} {
			path := filepath.Join(dir, c.name+"."+ext)
			if err := saveFigure(path, c.w, c.h, c.draw); err != nil {
				return paths, err
			}
			paths = append(paths, path)
		}
	}
	return paths, nil
}

func latencyWorkloads(wls []WorkloadInfo) []WorkloadInfo {
	var out []WorkloadInfo
	for _, w := range wls {
		if w.Name != WScanFull {
			out = append(out, w)
		}
	}
	return out
}

const tileCols = 4

func tileFigureHeight(panels, engines int) vg.Length {
	rows := (panels + tileCols - 1) / tileCols
	return vg.Length(rows)*(vg.Length(engines)*0.3*vg.Inch+1.3*vg.Inch) + 0.6*vg.Inch
}

// saveFigure draws a figure of w×h onto a white canvas and writes it to
// path, as PNG or SVG by the extension.
func saveFigure(path string, w, h vg.Length, drawFn func(dc draw.Canvas) error) (err error) {
	var (
		canvas interface {
			vg.CanvasSizer
		}
		writeTo func(io.Writer) (int64, error)
	)
	switch filepath.Ext(path) {
	case ".png":
		c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
		canvas, writeTo = c, vgimg.PngCanvas{Canvas: c}.WriteTo
	case ".svg":
		c := vgsvg.New(w, h)
		canvas, writeTo = c, c.WriteTo
	default:
		return fmt.Errorf("bench: chart %s: unsupported format", path)
	}
	dc := draw.New(canvas)
	if _, isSVG := canvas.(*vgsvg.Canvas); isSVG {
		// vgsvg has no background option: paint one so the chart reads on
		// dark viewers too.
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
	}
	if err := drawFn(dc); err != nil {
		return fmt.Errorf("bench: chart %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("bench: chart %s: %w", path, cerr)
		}
	}()
	if _, err := writeTo(f); err != nil {
		return fmt.Errorf("bench: chart %s: %w", path, err)
	}
	return nil
}

// drawHeading writes a figure title at the top of dc and returns the canvas
// below it.
func drawHeading(dc draw.Canvas, heading, sub string) draw.Canvas {
	p := plot.New() // only for its default text handler and font
	st := p.Title.TextStyle
	st.Font.Size = 15
	st.XAlign = draw.XCenter
	st.YAlign = draw.YTop
	top := dc.Max.Y - 0.12*vg.Inch
	dc.FillText(st, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: top}, heading)
	sst := st
	sst.Font.Size = 10
	top -= st.Height(heading) + 0.04*vg.Inch
	dc.FillText(sst, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: top}, sub)
	top -= sst.Height(sub) + 0.1*vg.Inch
	out := dc
	out.Max.Y = top
	return out
}

// trimZeros drops a fraction of zeros from a formatted number ("1.00µs" →
// "1µs", "2.50M" → "2.5M"): tick values are round, so the digits say nothing.
func trimZeros(s string) string {
	i := strings.IndexAny(s, ".")
	if i < 0 {
		return s
	}
	j := i + 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	num := strings.TrimRight(s[:j], "0")
	num = strings.TrimSuffix(num, ".")
	return num + s[j:]
}

// rateTicks labels an ops/s axis with FormatRate.
type rateTicks struct{}

func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			if ticks[i].Value == 0 {
				ticks[i].Label = "0"
			} else {
				ticks[i].Label = trimZeros(FormatRate(ticks[i].Value))
			}
		}
	}
	return ticks
}

// drawRelative draws the one-axis overview: per workload, each engine's
// throughput as a percentage of the best engine's.
func drawRelative(dc draw.Canvas, engines []*EngineResult, colors []color.Color, wls []WorkloadInfo, sub string) error {
	dc = drawHeading(dc, "Throughput relative to the fastest engine per workload (higher is better)", sub)
	legendW := 2.2 * vg.Inch
	plotC := dc
	plotC.Max.X -= legendW

	p := plot.New()
	p.Y.Label.Text = "% of best"
	p.Y.Min, p.Y.Max = 0, 105
	p.Y.Tick.Marker = plot.ConstantTicks(percentTicks())
	names := make([]string, len(wls))
	for i, w := range wls {
		names[i] = w.Name
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	p.Add(grid)

	// Bars share 80% of a category's width; the plot area is roughly the
	// canvas less the axes.
	area := plotC.Max.X - plotC.Min.X - 0.8*vg.Inch
	barW := area / vg.Length(len(wls)) * 0.8 / vg.Length(len(engines))
	legend := plot.NewLegend()
	for i, e := range engines {
		vals := make(plotter.Values, len(wls))
		for j, w := range wls {
			res, ok := e.Workload(w.Name)
			best := bestRate(engines, w.Name)
			if ok && best > 0 {
				vals[j] = 100 * res.OpsPerSec / best
			}
		}
		bc, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return err
		}
		bc.Color = colors[i]
		bc.LineStyle.Width = 0
		bc.Offset = (vg.Length(i) - vg.Length(len(engines)-1)/2) * barW
		p.Add(bc)
		legend.Add(e.Engine, bc)
	}
	p.Draw(plotC)

	legC := dc
	legC.Min.X = dc.Max.X - legendW + 0.2*vg.Inch
	legend.Top = true
	legend.TextStyle.Font.Size = 11
	legend.Draw(legC)
	return nil
}

func percentTicks() []plot.Tick {
	var t []plot.Tick
	for v := 0; v <= 100; v += 10 {
		label := ""
		if v%20 == 0 {
			label = fmt.Sprintf("%d%%", v)
		}
		t = append(t, plot.Tick{Value: float64(v), Label: label})
	}
	return t
}

func bestRate(engines []*EngineResult, workload string) float64 {
	best := 0.0
	for _, e := range engines {
		if res, ok := e.Workload(workload); ok {
			best = math.Max(best, res.OpsPerSec)
		}
	}
	return best
}

// panelFunc builds one workload's panel.
type panelFunc func(engines []*EngineResult, colors []color.Color, w WorkloadInfo) (*plot.Plot, error)

// drawTiles lays one panel per workload out in a grid of tileCols columns.
func drawTiles(dc draw.Canvas, engines []*EngineResult, colors []color.Color, wls []WorkloadInfo, heading, sub string, panel panelFunc) error {
	dc = drawHeading(dc, heading, sub)
	rows := (len(wls) + tileCols - 1) / tileCols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, tileCols)
	}
	for i, w := range wls {
		p, err := panel(engines, colors, w)
		if err != nil {
			return err
		}
		plots[i/tileCols][i%tileCols] = p
	}
	tiles := draw.Tiles{
		Rows: rows, Cols: tileCols,
		PadX: 0.25 * vg.Inch, PadY: 0.3 * vg.Inch,
		PadLeft: 0.1 * vg.Inch, PadRight: 0.3 * vg.Inch, PadBottom: 0.1 * vg.Inch,
	}
	canvases := plot.Align(plots, tiles, dc)
	for y := range plots {
		for x, p := range plots[y] {
			if p != nil {
				p.Draw(canvases[y][x])
			}
		}
	}
	return nil
}

// enginePositions returns engine names bottom-up, so the first engine is
// drawn at the top of a horizontal panel.
func enginePositions(engines []*EngineResult) []string {
	names := make([]string, len(engines))
	for i, e := range engines {
		names[len(engines)-1-i] = e.Engine
	}
	return names
}

func throughputPanel(engines []*EngineResult, colors []color.Color, w WorkloadInfo) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (%s/s)", w.Name, w.Unit)
	p.NominalY(enginePositions(engines)...)
	p.X.Tick.Marker = rateTicks{}
	p.X.Min = 0
	best := bestRate(engines, w.Name)
	p.X.Max = best * 1.3 // room for the value labels
	var xys plotter.XYs
	var labels []string
	for i, e := range engines {
		res, ok := e.Workload(w.Name)
		if !ok {
			continue
		}
		pos := float64(len(engines) - 1 - i)
		bc, err := plotter.NewBarChart(plotter.Values{res.OpsPerSec}, 0.2*vg.Inch)
		if err != nil {
			return nil, err
		}
		bc.Horizontal = true
		bc.XMin = pos
		bc.Color = colors[i]
		bc.LineStyle.Width = 0
		p.Add(bc)
		xys = append(xys, plotter.XY{X: res.OpsPerSec, Y: pos})
		labels = append(labels, FormatRate(res.OpsPerSec))
	}
	if err := addValueLabels(p, xys, labels); err != nil {
		return nil, err
	}
	return p, nil
}

// latencyTicks labels a logarithmic nanosecond axis at 1-2-5 steps of each
// decade, as durations.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for dec := math.Pow(10, math.Floor(math.Log10(lo))); dec <= hi; dec *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := dec * m
			if v < lo || v > hi {
				continue
			}
			label := ""
			if m == 1 || hi/lo < 1000 {
				label = trimZeros(FormatLatency(v))
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}

// latencyPanel draws, per engine, a bar from p50 (solid dot) to p99 (light
// dot) on a logarithmic axis, so a 1-µs read and a 10-ms fsync fit one
// panel and a long tail shows as a long bar.
func latencyPanel(engines []*EngineResult, colors []color.Color, w WorkloadInfo) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = w.Name
	p.NominalY(enginePositions(engines)...)
	lo, hi := math.Inf(1), 0.0
	var xys plotter.XYs
	var labels []string
	for i, e := range engines {
		res, ok := e.Workload(w.Name)
		if !ok || !res.HasLatency() {
			continue
		}
		lo, hi = math.Min(lo, res.P50Ns), math.Max(hi, res.P99Ns)
		pos := float64(len(engines) - 1 - i)
		c := color.RGBAModel.Convert(colors[i]).(color.RGBA)
		span, err := plotter.NewLine(plotter.XYs{{X: res.P50Ns, Y: pos}, {X: res.P99Ns, Y: pos}})
		if err != nil {
			return nil, err
		}
		span.LineStyle.Color = lighten(c)
		span.LineStyle.Width = 0.09 * vg.Inch
		p.Add(span)
		for k, v := range []float64{res.P50Ns, res.P99Ns} {
			dot, err := plotter.NewScatter(plotter.XYs{{X: v, Y: pos}})
			if err != nil {
				return nil, err
			}
			dot.GlyphStyle.Shape = draw.CircleGlyph{}
			dot.GlyphStyle.Radius = 0.06 * vg.Inch
			dot.GlyphStyle.Color = c
			if k == 1 {
				dot.GlyphStyle.Shape = draw.RingGlyph{}
			}
			p.Add(dot)
		}
		xys = append(xys, plotter.XY{X: res.P99Ns, Y: pos})
		labels = append(labels, FormatLatency(res.P50Ns)+" / "+FormatLatency(res.P99Ns))
	}
	if hi == 0 {
		return p, nil
	}
	// Leave a decade and a half on the right for the value labels.
	p.X.Scale = plot.LogScale{}
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Max(hi*30, p.X.Min*100)
	p.X.Tick.Marker = latencyTicks{}
	if err := addValueLabels(p, xys, labels); err != nil {
		return nil, err
	}
	return p, nil
}

func lighten(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return uint8((int(v) + 2*255) / 3) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xFF}
}

// addValueLabels writes each bar's value just past its end.
func addValueLabels(p *plot.Plot, xys plotter.XYs, labels []string) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = 8
		l.TextStyle[i].YAlign = draw.YCenter
	}
	l.Offset = vg.Point{X: 0.1 * vg.Inch}
	p.Add(l)
	return nil
}
