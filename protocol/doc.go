// Package protocol owns the Kafka wire protocol at the edge of the broker:
// bounded request framing, request and response headers (including the
// flexible v2 request header of KIP-482), guarded decoding of request bodies
// with franz-go's kmsg, and the translation of Go errors into Kafka error
// codes.
//
// Codecs are never hand-written here: request and response bodies are kmsg
// types. What this package adds is what kmsg cannot know — how much untrusted
// input a broker is willing to look at before it gives up.
package protocol
