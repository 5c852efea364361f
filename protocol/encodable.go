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
	return checkStrings(reflect.ValueOf(resp), "")
}

func checkStrings(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkStrings(v.Elem(), path)
	case reflect.String:
		if v.Len() > math.MaxInt16 {
			return fmt.Errorf("%s: a string of %d bytes cannot be encoded in a non-flexible version", path, v.Len())
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
				if err := checkStrings(v.Field(i), path+"."+f.Name); err != nil {
					return err
				}
			}
		}
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.String, reflect.Pointer, reflect.Struct:
			for i := 0; i < v.Len(); i++ {
				if err := checkStrings(v.Index(i), path); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
