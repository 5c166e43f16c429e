package provider

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxSSELine bounds one SSE line; a longer line is an upstream fault.
const maxSSELine = 8 << 20

// SSEReader reads Server-Sent Events as the WHATWG spec frames them: "event:"
// and "data:" fields, multi-line data joined by "\n", comments (":") ignored,
// an event dispatched at a blank line. Both "\n" and "\r\n" line ends work.
type SSEReader struct {
	r    *bufio.Reader
	data []byte
}

// SSEBufferSize is the read buffer of an SSE stream. A stream holds it for
// as long as it is open, so it is sized for memory at 10,000 open streams
// (4 KiB each, where 16 KiB cost 120 MB more): an event line is a few
// hundred bytes, and a longer one is still read whole (readLine), with a
// copy.
const SSEBufferSize = 4 << 10

// NewSSEReader returns a reader of events from r (r itself when it is a
// *bufio.Reader of at least SSEBufferSize).
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, SSEBufferSize)}
}

// Next returns the next event's name and data. The data slice is valid until
// the next call. It returns io.EOF when the stream ends; a final event without
// its blank line is still returned.
func (s *SSEReader) Next() (event string, data []byte, err error) {
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && (hasData || event != "") {
				return event, s.data, nil
			}
			return "", nil, err
		}
		if len(line) == 0 {
			if hasData || event != "" {
				return event, s.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			event = strings.Clone(string(value))
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		}
	}
}

func (s *SSEReader) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = s.r.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > maxSSELine {
				return nil, io.ErrUnexpectedEOF
			}
		}
		line = buf
	}
	if err != nil && !(err == io.EOF && len(line) > 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}
