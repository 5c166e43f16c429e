package tracing

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// GenAI operation names (gen_ai.operation.name).
const (
	OpChat       = "chat"
	OpEmbeddings = "embeddings"
)

// Chorus's own attributes, beside the semantic conventions'.
const (
	AttrDeployment = attribute.Key("chorus.deployment")      // the deployment an attempt called
	AttrModel      = attribute.Key("chorus.model")           // the registry model (or route) name
	AttrTier       = attribute.Key("chorus.tier")            // the route tier of an attempt (0-based)
	AttrOutcome    = attribute.Key("chorus.attempt.outcome") // ok, error, canceled, rejected, not_chosen, judge
	AttrStrategy   = attribute.Key("chorus.route.strategy")  // fallback, balance, hedge, cascade, ensemble
	AttrAttempts   = attribute.Key("chorus.route.attempts")  // upstream calls a routing made
	AttrWinner     = attribute.Key("chorus.route.winner")    // the deployment that answered
	AttrRequestID  = attribute.Key("chorus.request_id")      // X-Request-Id
	AttrKeyID      = attribute.Key("chorus.key_id")          // the API key's ID (never the key)
	AttrTeamID     = attribute.Key("chorus.team_id")
	AttrCache      = attribute.Key("chorus.cache")         // hit, miss, bypass
	AttrEndpoint   = attribute.Key("chorus.endpoint")      // chat, messages, responses, embeddings
	AttrScore      = attribute.Key("chorus.quality.score") // an answer's score in a cascade or ensemble
	AttrTruncated  = attribute.Key("chorus.content.truncated")
	AttrStream     = attribute.Key("chorus.stream")
)

// ProviderName maps a deployment's provider kind to gen_ai.provider.name's
// well-known values; the simulator is Chorus's own.
func ProviderName(kind string) string {
	switch kind {
	case chorus.ProviderOpenAI:
		return semconv.GenAIProviderNameOpenAI.Value.AsString()
	case chorus.ProviderAzure:
		return semconv.GenAIProviderNameAzureAIOpenAI.Value.AsString()
	case chorus.ProviderAnthropic:
		return semconv.GenAIProviderNameAnthropic.Value.AsString()
	case chorus.ProviderGemini:
		return semconv.GenAIProviderNameGCPGemini.Value.AsString()
	case chorus.ProviderSimulator:
		return "chorus.simulator"
	}
	return kind
}

// AttemptStart describes one upstream call as it starts.
type AttemptStart struct {
	Operation     string // OpChat or OpEmbeddings
	Provider      string // the deployment's provider kind
	Deployment    string
	Model         string // the registry model
	UpstreamModel string // gen_ai.request.model: what the upstream is asked for
	BaseURL       string // the deployment's base URL (server.address, server.port)
	Tier          int
	Chat          *provider.ChatRequest // nil for embeddings
}

// StartAttempt starts the client span of one upstream call, named
// "{operation} {model}" as the GenAI conventions name it, with the request's
// parameters (and, when content is captured, its messages). The returned
// context carries the span: the provider adapter sends its traceparent
// upstream (provider.InjectTrace). Off (nil t): ctx and a non-recording
// span.
func (t *Tracer) StartAttempt(ctx context.Context, a AttemptStart) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := t.tracer.Start(ctx, a.Operation, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetName(a.Operation + " " + a.UpstreamModel)
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs,
		semconv.GenAIOperationNameKey.String(a.Operation),
		semconv.GenAIProviderNameKey.String(ProviderName(a.Provider)),
		semconv.GenAIRequestModel(a.UpstreamModel),
		AttrDeployment.String(a.Deployment),
		AttrModel.String(a.Model),
		AttrTier.Int(a.Tier),
	)
	attrs = appendServer(attrs, a.BaseURL)
	if r := a.Chat; r != nil {
		attrs = appendRequestParams(attrs, r)
	}
	if t.content > 0 && a.Chat != nil {
		attrs = append(attrs, inputContent(a.Chat, t.content)...)
	}
	span.SetAttributes(attrs...)
	return ctx, span
}

// appendServer adds server.address and server.port of a base URL.
func appendServer(attrs []attribute.KeyValue, base string) []attribute.KeyValue {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return attrs
	}
	host, port := u.Hostname(), u.Port()
	attrs = append(attrs, semconv.ServerAddress(host))
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// appendRequestParams adds the gen_ai.request.* parameters the client set.
func appendRequestParams(attrs []attribute.KeyValue, r *provider.ChatRequest) []attribute.KeyValue {
	if r.MaxTokens != nil {
		attrs = append(attrs, semconv.GenAIRequestMaxTokens(*r.MaxTokens))
	}
	if r.Temperature != nil {
		attrs = append(attrs, semconv.GenAIRequestTemperature(*r.Temperature))
	}
	if r.TopP != nil {
		attrs = append(attrs, semconv.GenAIRequestTopP(*r.TopP))
	}
	if r.TopK != nil {
		attrs = append(attrs, semconv.GenAIRequestTopK(float64(*r.TopK)))
	}
	if r.N != nil {
		attrs = append(attrs, semconv.GenAIRequestChoiceCount(*r.N))
	}
	if r.Seed != nil {
		attrs = append(attrs, semconv.GenAIRequestSeed(int(*r.Seed)))
	}
	if r.PresencePenalty != nil {
		attrs = append(attrs, semconv.GenAIRequestPresencePenalty(*r.PresencePenalty))
	}
	if r.FrequencyPenalty != nil {
		attrs = append(attrs, semconv.GenAIRequestFrequencyPenalty(*r.FrequencyPenalty))
	}
	if len(r.Stop) > 0 {
		attrs = append(attrs, semconv.GenAIRequestStopSequences(r.Stop...))
	}
	if r.Stream {
		attrs = append(attrs, AttrStream.Bool(true))
	}
	return attrs
}

// AttemptEnd is how an upstream call ended.
type AttemptEnd struct {
	Outcome string
	Err     error
	Usage   provider.Usage
	// What the upstream answered: its model, ID and finish reasons (from
	// the whole answer, or gathered from a stream's chunks).
	ResponseModel string
	ResponseID    string
	FinishReasons []string
	Chat          *provider.ChatResponse // the whole answer (content capture); nil for streams and embeddings
	Output        string                 // a stream's text, when content is captured
	Score         *float64
	End           time.Time // when the call ended; zero: now
}

// EndAttempt sets the response attributes on an attempt's span and ends it
// at e.End. A failed attempt gets error.type and an error status; a
// hedge's or a client's cancelled call only its outcome.
func (t *Tracer) EndAttempt(span trace.Span, e AttemptEnd) {
	if t == nil || !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs, AttrOutcome.String(e.Outcome))
	if e.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(e.ResponseModel))
	}
	if e.ResponseID != "" {
		attrs = append(attrs, semconv.GenAIResponseID(e.ResponseID))
	}
	if len(e.FinishReasons) > 0 {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(e.FinishReasons...))
	}
	attrs = appendUsage(attrs, e.Usage)
	if e.Score != nil {
		attrs = append(attrs, AttrScore.Float64(*e.Score))
	}
	if t.content > 0 {
		switch {
		case e.Chat != nil:
			attrs = append(attrs, outputContent(e.Chat, t.content)...)
		case e.Output != "":
			attrs = append(attrs, outputText(e.Output, e.FinishReasons, t.content)...)
		}
	}
	span.SetAttributes(attrs...)
	if e.Err != nil && e.Outcome != "canceled" {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(e.Err)))
		span.SetStatus(codes.Error, e.Err.Error())
	}
	if e.End.IsZero() {
		span.End()
		return
	}
	span.End(trace.WithTimestamp(e.End))
}

// appendUsage adds the token counts (those the upstream reported).
func appendUsage(attrs []attribute.KeyValue, u provider.Usage) []attribute.KeyValue {
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		return attrs
	}
	attrs = append(attrs, semconv.GenAIUsageInputTokens(u.InputTokens), semconv.GenAIUsageOutputTokens(u.OutputTokens))
	if u.CachedInputTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheReadInputTokens(u.CachedInputTokens))
	}
	if u.CacheWriteTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheCreationInputTokens(u.CacheWriteTokens))
	}
	return attrs
}

// FinishReasons are a whole answer's finish reasons, one per choice.
func FinishReasons(r *provider.ChatResponse) []string {
	if r == nil || len(r.Choices) == 0 {
		return nil
	}
	out := make([]string, 0, len(r.Choices))
	for _, c := range r.Choices {
		if c.FinishReason != "" {
			out = append(out, string(c.FinishReason))
		}
	}
	return out
}

// ErrorType is error.type for a failed call: the upstream's HTTP status,
// "timeout", "canceled", the application error code, or the Go type.
func ErrorType(err error) string {
	var pe *provider.Error
	switch {
	case errors.As(err, &pe) && pe.Status > 0:
		return strconv.Itoa(pe.Status)
	case errors.As(err, &pe) && pe.Timeout, errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ce *chorus.Error
	if errors.As(err, &ce) && ce.Code != "" {
		return ce.Code
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// StartRoute starts the span of one routing decision: the strategy over a
// model's deployments, parent of its attempts. Off: ctx and a
// non-recording span.
func (t *Tracer) StartRoute(ctx context.Context, op, model, strategy string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := t.tracer.Start(ctx, "route")
	if span.IsRecording() {
		span.SetName("route " + model)
		span.SetAttributes(semconv.GenAIOperationNameKey.String(op), AttrModel.String(model), AttrStrategy.String(strategy))
	}
	return ctx, span
}

// EndRoute ends a routing span with how many calls it made, which
// deployment answered (winner "" when none did) and its error.
func (t *Tracer) EndRoute(span trace.Span, attempts int, winner string, tier int, err error) {
	if t == nil || !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrAttempts.Int(attempts))
	if winner != "" {
		span.SetAttributes(AttrWinner.String(winner))
	}
	if tier >= 0 {
		span.SetAttributes(AttrTier.Int(tier))
	}
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// StartEvaluate starts the span of scoring an answer (a cascade's or an
// ensemble's); the judge models' calls are its children.
func (t *Tracer) StartEvaluate(ctx context.Context, model, deployment string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := t.tracer.Start(ctx, "evaluate")
	if span.IsRecording() {
		span.SetName("evaluate " + model)
		span.SetAttributes(semconv.GenAIEvaluationName("chorus.route"), AttrModel.String(model), AttrDeployment.String(deployment))
	}
	return ctx, span
}

// EndEvaluate ends a scoring span with the score and the judges' calls.
func (t *Tracer) EndEvaluate(span trace.Span, score float64, judged int) {
	if t == nil || !span.IsRecording() {
		return
	}
	span.SetAttributes(semconv.GenAIEvaluationScoreValue(score), attribute.Int("chorus.judge.calls", judged))
	span.End()
}

// Exchange is what the gateway knows of a request when it ends, for its
// server span.
type Exchange struct {
	Endpoint      string // chat, messages, responses, embeddings
	RequestID     string
	KeyID, TeamID int64
	Model         string // the model or route the client asked for
	ResponseModel string // the model that answered (a route's member)
	Provider      string // the answering deployment's provider kind
	Deployment    string
	Cache         string
	Stream        bool
	InputTokens   int64
	OutputTokens  int64
	Status        int
	ErrorCode     string // the application error code, "" on success
}

// Annotate adds the request's GenAI attributes to the server span in ctx:
// the model asked for and the one that answered, the provider, the tokens
// of every upstream call, and on a failure its error code as error.type.
func (t *Tracer) Annotate(ctx context.Context, x Exchange) {
	if t == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	op := OpChat
	if x.Endpoint == OpEmbeddings {
		op = OpEmbeddings
	}
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs, semconv.GenAIOperationNameKey.String(op), AttrEndpoint.String(x.Endpoint))
	if x.RequestID != "" {
		attrs = append(attrs, AttrRequestID.String(x.RequestID))
	}
	if x.KeyID != 0 {
		attrs = append(attrs, AttrKeyID.Int64(x.KeyID), AttrTeamID.Int64(x.TeamID))
	}
	if x.Model != "" {
		attrs = append(attrs, semconv.GenAIRequestModel(x.Model))
	}
	if x.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(x.ResponseModel))
	}
	if x.Provider != "" {
		attrs = append(attrs, semconv.GenAIProviderNameKey.String(ProviderName(x.Provider)), AttrDeployment.String(x.Deployment))
	}
	if x.Cache != "" {
		attrs = append(attrs, AttrCache.String(x.Cache))
	}
	if x.Stream {
		attrs = append(attrs, AttrStream.Bool(true))
	}
	if x.InputTokens > 0 || x.OutputTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(int(x.InputTokens)), semconv.GenAIUsageOutputTokens(int(x.OutputTokens)))
	}
	if x.ErrorCode != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(x.ErrorCode))
	}
	span.SetAttributes(attrs...)
}
