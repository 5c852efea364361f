package protocol

import (
	"fmt"
	"math"
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// CheckEncodable reports a response that kmsg would encode into bytes its
// version cannot express. Non-flexible versions carry strings with an int16
// length, so a string over 32,767 bytes (a group or member ID that arrived
// through a flexible request, say) would be encoded with a wrapped length
// and the client would misparse everything after it; Kafka's serializer
// refuses such a string ("field is too long to be serialized"). Flexible
// versions (compact strings, KIP-482) can carry any length, so only
// non-flexible responses are walked.
func CheckEncodable(resp kmsg.Response) error {
	if resp.IsFlexible() {
		return nil
	}
	if path, n := longString(reflect.ValueOf(resp)); n > 0 {
		return fmt.Errorf("%s: a string of %d bytes cannot be encoded in a non-flexible version", path, n)
	}
	return nil
}

// longString finds the first string over math.MaxInt16 bytes in v and
// returns its field path and length (0 when there is none). The path is
// built only on the way back from a find: every non-flexible response of
// an older client passes through here, so the common case allocates nothing.
func longString(v reflect.Value) (string, int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "", 0
		}
		return longString(v.Elem())
	case reflect.String:
		if v.Len() > math.MaxInt16 {
			return "", v.Len()
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			switch f.Type.Kind() {
			case reflect.String, reflect.Pointer, reflect.Struct, reflect.Slice:
				if path, n := longString(v.Field(i)); n > 0 {
					return "." + f.Name + path, n
				}
			}
		}
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.String, reflect.Pointer, reflect.Struct:
			for i := 0; i < v.Len(); i++ {
				if path, n := longString(v.Index(i)); n > 0 {
					return fmt.Sprintf("[%d]", i) + path, n
				}
			}
		}
	}
	return "", 0
}
