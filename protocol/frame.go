package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFrameTooLarge is returned for a size prefix above socket.request.max.bytes.
// Kafka closes the connection in that case (InvalidReceiveException); so do we.
var ErrFrameTooLarge = errors.New("request frame larger than socket.request.max.bytes")

// ErrFrameInvalid is returned for a negative or too-short size prefix.
var ErrFrameInvalid = errors.New("invalid request frame size")

// minRequestSize is the smallest possible request: api key, api version and
// correlation id (2+2+4) plus the nullable client id length (2).
const minRequestSize = 10

// ReadFrame reads one size-prefixed frame from r. The size is checked against
// maxBytes before anything is allocated, so a hostile prefix of 2^31-1 costs
// nothing, and memory is committed only as the body arrives. The returned
// slice is freshly allocated and owned by the caller.
func ReadFrame(r io.Reader, maxBytes int32) ([]byte, error) {
	size, err := ReadFrameSize(r, maxBytes)
	if err != nil {
		return nil, err
	}
	return ReadFrameBody(r, size)
}

// ReadFrameSize reads and checks a frame's size prefix, so that a caller can
// admit the frame (a request memory pool) before its body is read.
func ReadFrameSize(r io.Reader, maxBytes int32) (int32, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	switch {
	case size < 0:
		return 0, fmt.Errorf("%w: %d", ErrFrameInvalid, size)
	case size < minRequestSize:
		return 0, fmt.Errorf("%w: %d bytes is shorter than a request header", ErrFrameInvalid, size)
	case size > maxBytes:
		return 0, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, size, maxBytes)
	}
	return size, nil
}

// ReadFrameBody reads the size bytes of a frame whose prefix ReadFrameSize
// has checked.
func ReadFrameBody(r io.Reader, size int32) ([]byte, error) {
	// The buffer grows with the bytes that actually arrive: a client that
	// claims socket.request.max.bytes and then sends nothing pins one chunk,
	// not the whole claim, for as long as it keeps the connection idle.
	buf := make([]byte, min(int(size), frameChunk))
	for read := 0; ; {
		if _, err := io.ReadFull(r, buf[read:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(buf) == int(size) {
			return buf, nil
		}
		read = len(buf)
		grown := make([]byte, min(int(size), 2*len(buf)))
		copy(grown, buf)
		buf = grown
	}
}

// frameChunk is the most ReadFrameBody allocates before the bytes arrive.
const frameChunk = 1 << 20
