package record

import (
	"encoding/json"
	"math"
)

// Float is a float64 that JSON can always hold: NaN and the infinities are
// written as null (JSON has no such numbers, and encoding/json refuses
// them), and null reads back as NaN. Every file perfgate writes uses it for
// a number that may be missing.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// IsNaN reports whether f is not a number (a missing value).
func (f Float) IsNaN() bool { return math.IsNaN(float64(f)) }
