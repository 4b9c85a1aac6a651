package wire

import (
	"errors"

	"github.com/lightningdb/lightning/host/internal/pluginv1"
	"github.com/lightningdb/lightning/interfaces"
)

// ErrorToProto turns an error returned by a part into its wire form; nil
// for nil.
//
// The code is interfaces.CodeOf(err). When a *interfaces.CorruptionError
// is in the chain, its location, reason and cause travel too, so the host
// can rebuild it for errors.As, and errors.Is(err, interfaces.ErrDecrypt)
// still holds when decryption was the cause.
func ErrorToProto(err error) *pluginv1.Error {
	if err == nil {
		return nil
	}
	pe := &pluginv1.Error{Code: uint32(interfaces.CodeOf(err)), Message: err.Error()}
	var ce *interfaces.CorruptionError
	if errors.As(err, &ce) {
		pe.Corruption = true
		pe.File, pe.Offset, pe.Reason = ce.File, ce.Offset, ce.Reason
		if ce.Err != nil {
			pe.CauseCode = uint32(interfaces.CodeOf(ce.Err))
			pe.CauseMessage = ce.Err.Error()
		}
	}
	return pe
}

// ErrorFromProto rebuilds an error received from a plugin; nil for nil or
// for code 0 (CodeOK). errors.Is(err, s) holds for the sentinel s of the
// code, and a corruption is an *interfaces.CorruptionError (reachable with
// errors.As) whose message is the plugin's whole message.
func ErrorFromProto(pe *pluginv1.Error) error {
	if pe == nil || pe.Code == uint32(interfaces.CodeOK) {
		return nil
	}
	code := interfaces.ErrorCode(pe.Code)
	if !pe.Corruption {
		return interfaces.ErrorFromCode(code, pe.Message, "", 0)
	}
	ce := &interfaces.CorruptionError{File: pe.File, Offset: pe.Offset, Reason: pe.Reason}
	if pe.CauseCode != uint32(interfaces.CodeOK) {
		ce.Err = interfaces.ErrorFromCode(interfaces.ErrorCode(pe.CauseCode), pe.CauseMessage, "", 0)
	}
	if ce.Error() == pe.Message {
		return ce
	}
	// The corruption was wrapped on the plugin's side ("lsm: table 12:
	// ..."): keep that text, and the corruption beneath it.
	return &wrapped{msg: pe.Message, code: code, err: ce}
}

// wrapped is a plugin error whose text wraps a corruption.
type wrapped struct {
	msg  string
	code interfaces.ErrorCode
	err  *interfaces.CorruptionError
}

func (w *wrapped) Error() string { return w.msg }

func (w *wrapped) Unwrap() error { return w.err }

// Is matches the sentinel of the outer code too, in case it is not the
// corruption's (a fail-stop caused by a corrupt block, say).
func (w *wrapped) Is(target error) bool {
	s := w.code.Sentinel()
	return s != nil && s == target
}
