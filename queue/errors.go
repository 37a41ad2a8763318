package queue

import "errors"

// ErrInvalidPayload is matched, through errors.Is, by every
// *InvalidPayloadError. A job that fails with it can never succeed, so it must
// not be retried; its result code is [CodeInvalidPayload].
var ErrInvalidPayload = errors.New("invalid payload")

// InvalidPayloadError reports the first problem found in a payload.
type InvalidPayloadError struct {
	// Field is the JSON name of the offending field, dotted for nested ones
	// ("ladder.inline"), or "json" when the document does not decode.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "invalid payload: <field>: <reason>".
func (e *InvalidPayloadError) Error() string {
	return "invalid payload: " + e.Field + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidPayload].
func (e *InvalidPayloadError) Is(target error) bool { return target == ErrInvalidPayload }
