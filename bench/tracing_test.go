package bench_test

import (
	"bufio"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/config"
)

// tracingModes are the configurations BenchmarkTracing compares: tracing
// off (the default: must cost what BenchmarkChatPassthrough costs), on
// with every request sampled and its spans batched to an exporter that
// drops them (the cost of the spans themselves, without the network), and
// on with no request sampled (propagation and IDs only).
var tracingModes = []struct {
	name string
	edit func(*config.Config)
}{
	{"off", nil},
	{"on", func(c *config.Config) {
		c.Tracing.Enabled, c.Tracing.Sampler, c.Tracing.SampleRatio = true, "parentbased_traceidratio", 1
	}},
	{"unsampled", func(c *config.Config) {
		c.Tracing.Enabled, c.Tracing.Sampler, c.Tracing.SampleRatio = true, "parentbased_traceidratio", 0
	}},
}

// BenchmarkTracing is BenchmarkChatPassthrough and
// BenchmarkChatStreamPassthrough with tracing off, on and on-but-unsampled
// (docs/tracing.md has the figures):
//
//	go test ./bench -run '^$' -bench Tracing -benchmem -count 5
func BenchmarkTracing(b *testing.B) {
	for _, kind := range []struct {
		name   string
		body   []byte
		stream bool
	}{{"chat", chatBody, false}, {"stream", streamBody, true}} {
		for _, m := range tracingModes {
			b.Run(kind.name+"/"+m.name, func(b *testing.B) {
				r := newRigWith(b, m.edit, app.WithSpanExporter(tracetest.NewNoopExporter()))
				benchPassthroughOn(b, r, kind.body, kind.stream)
			})
		}
	}
}

// TestTracingRig checks the rig of BenchmarkTracing: with tracing on, the
// gateway answers and every request's spans reach the exporter.
func TestTracingRig(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	r := newRigWith(t, tracingModes[1].edit, app.WithSpanExporter(exp))
	rd := bufio.NewReaderSize(nil, 16<<10)
	for _, stream := range []bool{false, true} {
		body := chatBody
		if stream {
			body = streamBody
		}
		if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
			t.Fatal(err)
		}
	}
	// Per request: the server span, the routing span and the attempt span.
	// The server span ends just after the client has the answer.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := r.gw.App.Tracer.ForceFlush(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, want := len(exp.GetSpans()), 6
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%d spans exported, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
