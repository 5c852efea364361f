package main

// The raw connection: frames go out as bytes (kmsg's RequestFormatter for
// well-formed requests, hand-made bytes for malformed ones) and responses are
// read back with a deadline and decoded with kmsg as the request's API and
// version.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("wirefuzz"))

// frame encodes req (at its set version) as a size-prefixed request.
func frame(req kmsg.Request, corr int32) []byte {
	return formatter.AppendRequest(nil, req, corr)
}

type conn struct {
	c    net.Conn
	corr int32
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{c: c}, nil
}

func (c *conn) Close() { c.c.Close() }

func (c *conn) next() int32 { c.corr++; return c.corr }

func (c *conn) write(b []byte, timeout time.Duration) error {
	c.c.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.c.Write(b)
	return err
}

// errTimeout means nothing came back within the deadline and the
// connection is still open.
var errTimeout = errors.New("no response within the timeout, connection open")

// readFrame reads one response frame; io.EOF or a reset means the broker
// closed the connection.
func (c *conn) readFrame(timeout time.Duration) ([]byte, error) {
	c.c.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(c.c, size[:]); err != nil {
		return nil, classify(err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("response size %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		return nil, classify(err)
	}
	return b, nil
}

// errClosed wraps every way a connection ends from the broker's side.
var errClosed = errors.New("connection closed by the broker")

func classify(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTimeout
	}
	return fmt.Errorf("%w: %v", errClosed, err)
}

// roundTrip sends req and reads its response; the response body is returned
// undecoded with the error from decoding it (nil when it decodes).
func (c *conn) roundTrip(req kmsg.Request, timeout time.Duration) (reqBytes []byte, resp kmsg.Response, err error) {
	corr := c.next()
	reqBytes = frame(req, corr)
	if err := c.write(reqBytes, timeout); err != nil {
		return reqBytes, nil, classify(err)
	}
	resp, err = c.readResponse(req, corr, timeout)
	return reqBytes, resp, err
}

// errUndecodable marks a response that arrived but is not a well-formed
// response to the request.
var errUndecodable = errors.New("response does not decode")

func (c *conn) readResponse(req kmsg.Request, corr int32, timeout time.Duration) (kmsg.Response, error) {
	b, err := c.readFrame(timeout)
	if err != nil {
		return nil, err
	}
	return decodeResponse(req, corr, b)
}

// decodeResponse checks the correlation id, skips the response header's tags
// (flexible versions, except ApiVersions whose response header is always v0)
// and decodes the body with kmsg. kmsg v1.15's tag loops can spin on a
// hostile tag count, so decoding gets a time limit of its own.
func decodeResponse(req kmsg.Request, corr int32, b []byte) (kmsg.Response, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d-byte frame", errUndecodable, len(b))
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", errUndecodable, got, corr)
	}
	body := b[4:]
	if req.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, fmt.Errorf("%w: response header: %v", errUndecodable, err)
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	done := make(chan error, 1)
	go func() { done <- resp.ReadFrom(body) }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("%w as %s v%d: %v", errUndecodable, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
		}
		return resp, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("%w: decoding took over 5 s (tag counts?)", errUndecodable)
	}
}

// skipTags skips a KIP-482 tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[k:]
	for ; n > 0; n-- {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[k+int(size):]
	}
	return b, nil
}

// apiRange is one ApiVersions entry, cut to what kmsg can encode.
type apiRange struct {
	key      int16
	min, max int16
}

// apiVersions asks the broker which APIs it serves.
func apiVersions(addr string) ([]apiRange, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "wirefuzz", "1"
	_, r, err := c.roundTrip(req, 10*time.Second)
	if err != nil {
		return nil, err
	}
	resp := r.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("ApiVersions error %d", resp.ErrorCode)
	}
	var out []apiRange
	for _, k := range resp.ApiKeys {
		kr := kmsg.RequestForKey(k.ApiKey)
		if kr == nil {
			continue
		}
		out = append(out, apiRange{key: k.ApiKey, min: k.MinVersion, max: min(k.MaxVersion, kr.MaxVersion())})
	}
	return out, nil
}
