package auth

// Distinguished names as Kafka sees them: Java's
// X500Principal.getName() (RFC 2253), which Kafka's SslPrincipalMapper and
// its DEFAULT rule work on, e.g. "CN=alice,OU=eng,O=Acme,C=US".

import (
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// The SET suffix makes encoding/asn1 read a SET OF.
type relativeDistinguishedNameSET []attributeTypeAndValue

// rfc2253Keywords are the attribute types Java's RFC 2253 form names by
// keyword; every other type is printed as its OID with the value's DER
// encoding in hex (RFC 2253 section 2.4).
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// FormatDN renders a DER-encoded Name (a certificate's RawSubject) as
// Java's X500Principal.getName() does: the RDNs last first, "," between
// them, "+" within a multi-valued one, special characters escaped.
func FormatDN(raw []byte) (string, error) {
	var rdns []relativeDistinguishedNameSET
	rest, err := asn1.Unmarshal(raw, &rdns)
	if err != nil {
		return "", fmt.Errorf("distinguished name: %w", err)
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("distinguished name: trailing data")
	}
	var sb strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			sb.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				sb.WriteByte('+')
			}
			kw, known := rfc2253Keywords[atv.Type.String()]
			s, isString := asn1String(atv.Value)
			if !known || !isString {
				sb.WriteString(atv.Type.String())
				sb.WriteString("=#")
				sb.WriteString(hex.EncodeToString(atv.Value.FullBytes))
				continue
			}
			sb.WriteString(kw)
			sb.WriteByte('=')
			sb.WriteString(escapeRFC2253(s))
		}
	}
	return sb.String(), nil
}

// asn1String decodes the directory string types a name holds.
func asn1String(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String:
		if !utf8.Valid(v.Bytes) {
			return "", false
		}
		return string(v.Bytes), true
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String, 26 /* VisibleString */ :
		// Latin-1 at worst: each byte is one character.
		r := make([]rune, len(v.Bytes))
		for i, b := range v.Bytes {
			r[i] = rune(b)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// escapeRFC2253 escapes as Java's AVA.toRFC2253String: a backslash before
// each of ,=+<>#;"\ (Java escapes '=' and '#' anywhere, which RFC 2253
// allows), a leading or trailing space escaped, control characters as \XX.
func escapeRFC2253(s string) string {
	const escapees = ",=+<>#;\"\\"
	var sb strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(escapees, r):
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == ' ' && (i == 0 || i == len(s)-1):
			sb.WriteString("\\ ")
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, "\\%02X", r)
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}
