package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// The learned scorer predicts P(answer good) per scope (a route's or a
// model's learned scorer) with logistic regression trained online by
// FTRL-Proximal (McMahan et al., 2013) over hashed features (features.go).
// It learns from feedback on the answers it scored, from judge scorers'
// verdicts and from examples an operator imports; a deterministic slice of
// the examples (by hash) is held out from training to measure it.
// Standard library only, no network: a prediction is a few hundred map
// lookups.

// FTRL-Proximal's settings. The L1 term keeps the weights of hashed words
// seen once or twice at zero; the L2 term keeps the rest modest.
const (
	ftrlAlpha = 0.1
	ftrlBeta  = 1.0
	ftrlL1    = 0.05
	ftrlL2    = 1.0
)

// LearnedStore is what the learner keeps in the database.
type LearnedStore interface {
	InsertLearnedExample(ctx context.Context, e *chorus.LearnedExample) error
	ListLearnedExamples(ctx context.Context, scope string, afterSeq int64, limit int) ([]*chorus.LearnedExample, error)
	DeleteLearnedExamplesAfter(ctx context.Context, scope string, seq int64) error
	SaveLearnedModel(ctx context.Context, m *chorus.LearnedModel) error
	LearnedModel(ctx context.Context, scope string, version int64) (*chorus.LearnedModel, error)
	LatestLearnedModels(ctx context.Context) ([]*chorus.LearnedModel, error)
	ListLearnedModels(ctx context.Context, scope string) ([]*chorus.LearnedModel, error)
	LearnedScopes(ctx context.Context) ([]string, error)
}

// FeedbackSource is where a learner follows the feedback every instance of
// a fleet stores (Learner.SyncFeedback).
type FeedbackSource interface {
	MaxFeedbackID(ctx context.Context) (int64, error)
	ListFeedback(ctx context.Context, f chorus.FeedbackFilter, page chorus.Page) ([]*chorus.Feedback, error)
}

// LearnerOptions tune a Learner. Zero values mean the defaults.
type LearnerOptions struct {
	Store       LearnedStore // nil: nothing is persisted
	Holdout     float64      // share of examples held out to measure (0.2)
	RefitEvery  int          // refit from all training examples after this many new ones (25)
	Epochs      int          // passes of a refit (8)
	SaveEvery   int          // save a version after this many new examples (100; negative: only on request)
	MaxExamples int          // examples kept in memory per scope, newest (50,000)
	PendingSize int          // scored answers remembered for their feedback (100,000)
	Logger      *slog.Logger
}

// Learner holds every scope's learned scorer. It is safe for concurrent use.
type Learner struct {
	o       LearnerOptions
	mu      sync.Mutex
	scopes  map[string]*scope
	pending pendingSet
	calib   sync.Map // calibKey → calibEntry
	// SyncFeedback's place in the feedback table.
	fbMu      sync.Mutex
	fbStarted bool
	fbCursor  int64
}

// calibKey names one calibration: a scope and its target's values.
type calibKey struct {
	scope                 string
	quality, cost, margin float64
}

// calibEntry is a calibration, the tiers it was made for, and the example
// count and weights generation it was made at.
type calibEntry struct {
	seq, gen      int64
	cheap, strong Tier
	c             Calibration
}

// calibrated is Calibrate, cached until the scope's next refit (or
// rollback): between refits the weights move by online steps only, and
// calibration, a pass over every example, stays off most requests.
func (l *Learner) calibrated(scopeName string, cheap, strong Tier, target chorus.CascadeTarget) Calibration {
	s := l.lookup(scopeName)
	var seq, gen int64
	if s != nil {
		s.mu.RLock()
		seq, gen = s.seq, s.gen
		s.mu.RUnlock()
	}
	k := calibKey{scopeName, target.MinQualityRatio, target.MaxCostRatio, target.MarginSE()}
	if v, ok := l.calib.Load(k); ok {
		if e := v.(calibEntry); (e.gen == gen && gen > 0 || e.seq == seq) && sameTier(e.cheap, cheap) && sameTier(e.strong, strong) {
			return e.c
		}
	}
	c := l.Calibrate(scopeName, cheap, strong, target)
	l.calib.Store(k, calibEntry{seq, gen, cheap, strong, c})
	return c
}

// NewLearner returns an empty learner; Load fills it from the store.
func NewLearner(o LearnerOptions) *Learner {
	if o.Holdout <= 0 || o.Holdout >= 1 {
		o.Holdout = 0.2
	}
	if o.RefitEvery <= 0 {
		o.RefitEvery = 25
	}
	if o.Epochs <= 0 {
		o.Epochs = 8
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 100
	}
	if o.MaxExamples <= 0 {
		o.MaxExamples = 50_000
	}
	if o.PendingSize <= 0 {
		o.PendingSize = 100_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Learner{o: o, scopes: map[string]*scope{}, pending: pendingSet{max: o.PendingSize, m: map[string]*pendingAnswer{}}}
}

// Scope names a learned scorer: the route (or the model, for a model
// without a route) and the scorer's label.
func Scope(routeOrModel, label string) string { return routeOrModel + ":" + label }

// weights is one logistic regression's FTRL state: z and n per feature.
type weights struct {
	z, n map[uint32]float64
}

func newWeights() *weights { return &weights{z: map[uint32]float64{}, n: map[uint32]float64{}} }

// w is feature i's weight.
func (m *weights) w(i uint32) float64 {
	z := m.z[i]
	if math.Abs(z) <= ftrlL1 {
		return 0
	}
	return -(z - math.Copysign(ftrlL1, z)) / ((ftrlBeta+math.Sqrt(m.n[i]))/ftrlAlpha + ftrlL2)
}

// predict is P(good | features).
func (m *weights) predict(fs []Feature) float64 {
	var s float64
	for _, f := range fs {
		s += m.w(f.Index) * float64(f.Value)
	}
	return sigmoid(s)
}

// update takes one FTRL step towards label y with weight c.
func (m *weights) update(fs []Feature, y, c float64) {
	p := m.predict(fs)
	for _, f := range fs {
		g := (p - y) * float64(f.Value) * c
		n := m.n[f.Index]
		sigma := (math.Sqrt(n+g*g) - math.Sqrt(n)) / ftrlAlpha
		m.z[f.Index] += g - sigma*m.w(f.Index)
		m.n[f.Index] = n + g*g
	}
}

func sigmoid(s float64) float64 {
	s = math.Max(-35, math.Min(35, s))
	return 1 / (1 + math.Exp(-s))
}

// example is a labelled example in memory.
type example struct {
	seq      int64
	feats    []Feature
	label    float64
	weight   float64
	model    string
	source   string
	unbiased bool // not chosen by the scorer's own decision: usable to calibrate
	in, out  int64
	prior    []Feature // a later tier's answer: the first tier's answer to the same request
}

// scope is one learned scorer.
type scope struct {
	name    string
	mu      sync.RWMutex
	m       *weights
	train   []example
	holdout []example
	seq     int64             // the last example's
	gen     int64             // counts refits and rollbacks: the weights changed
	oof     map[int64]float64 // out-of-fold predictions of unbiased training examples, by seq (the last refit's)
	// folds are the last refit's fold models (each fitted without one fold
	// of the training examples, then stepped online like m): predictions
	// are served by one of them, picked by the features' hash, so a new
	// answer's score comes from the same kind of model as the out-of-fold
	// scores a cascade's threshold is calibrated on (served). Nil before
	// the first refit, or with fewer training examples than folds.
	folds      []*weights
	version    int64 // the last saved version
	sources    map[string]int64
	sinceRefit int
	sinceSave  int
	refitting  sync.Mutex
	// synced is the last stored example Sync has seen; own holds the seqs
	// this instance stored after it, which Sync skips (they are learned
	// already). syncMu orders an insert and its own mark against Sync.
	synced int64
	own    map[int64]bool
	syncMu sync.Mutex
}

func (l *Learner) scope(name string) *scope {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.scopes[name]
	if s == nil {
		s = &scope{name: name, m: newWeights(), sources: map[string]int64{}}
		l.scopes[name] = s
	}
	return s
}

// lookup returns the scope, or nil when it has not learned anything.
func (l *Learner) lookup(name string) *scope {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scopes[name]
}

// Predict returns P(good) for features in a scope; 0.5 before it has
// learned anything.
func (l *Learner) Predict(scopeName string, fs []Feature) float64 {
	s := l.lookup(scopeName)
	if s == nil {
		return 0.5
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.served(fs)
}

// served is the scope's prediction for features: by the fold model their
// hash picks, or by m before there are fold models. Fitted on four fifths
// of the examples, a fold model ranks new answers as well as m (AUC within
// 0.005 on RouteLLM's GSM8K answers) — but the full model's scores sit
// higher or lower than the out-of-fold ones by a margin that varies from
// refit to refit, and on GSM8K that moved the share a calibrated threshold
// escalates by up to 25 points (0.66 calibrated, 0.41 served); served by
// fold models, within 0.01 (0.04 at a threshold of 0.8). s.mu is held.
func (s *scope) served(fs []Feature) float64 {
	if len(s.folds) != folds {
		return s.m.predict(fs)
	}
	return s.folds[foldOf(fs)].predict(fs)
}

// foldOf picks a fold model for features: the same features, the same one.
func foldOf(fs []Feature) int {
	h := uint32(2166136261)
	for _, f := range fs {
		h = (h ^ f.Index) * 16777619
		h = (h ^ math.Float32bits(f.Value)) * 16777619
	}
	return int(h % folds)
}

// Labelled is a labelled example to learn from.
type Labelled struct {
	Scope      string
	ResponseID string // "" for imported examples
	Model      string
	Features   []Feature
	Label      float64 // in [0, 1]
	Weight     float64 // 0 means 1
	Source     string  // chorus.LearnedFrom*
	Unbiased   bool
	In, Out    int64     // the answer's tokens
	Prior      []Feature // for a later tier's answer, the first tier's answer's features
	key        string
}

// Learn adds one labelled example: held out when its key hashes into the
// holdout slice, else one online step (and a refit now and then). It is
// stored when the learner has a store.
func (l *Learner) Learn(ctx context.Context, x Labelled) error {
	return l.learn(ctx, x, true)
}

// learn is Learn; batch false leaves refits and saves to the caller.
func (l *Learner) learn(ctx context.Context, x Labelled, batch bool) error {
	if !(x.Label >= 0 && x.Label <= 1) {
		return chorus.Invalid("label", "label must be between 0 and 1, got %v", x.Label)
	}
	if x.Weight == 0 {
		x.Weight = 1
	}
	key := x.key
	if key == "" {
		key = x.ResponseID
	}
	s := l.scope(x.Scope)
	e := example{feats: x.Features, label: x.Label, weight: x.Weight, model: x.Model, source: x.Source,
		unbiased: x.Unbiased, in: x.In, out: x.Out, prior: x.Prior}
	holdout := l.heldOut(key)
	// Stored first: the database numbers the scope's examples, for every
	// instance of a fleet (Sync). syncMu keeps Sync from reading this
	// example before it is marked as this instance's own.
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var err error
	var seq int64
	if l.o.Store != nil {
		var raw, prior []byte
		raw, err = json.Marshal(e.feats)
		if err == nil && e.prior != nil {
			prior, err = json.Marshal(e.prior)
		}
		if err != nil {
			return err
		}
		stored := &chorus.LearnedExample{
			Scope: x.Scope, ResponseID: x.ResponseID, Model: x.Model, Source: x.Source, Label: x.Label,
			Weight: x.Weight, Holdout: holdout, Features: raw, PriorFeatures: prior, InputTokens: x.In, OutputTokens: x.Out,
		}
		if err = l.o.Store.InsertLearnedExample(ctx, stored); err == nil {
			seq = stored.Seq
		}
	}
	s.mu.Lock()
	if seq == 0 {
		seq = s.seq + 1 // not stored: numbered here
	} else if seq > s.synced {
		if s.own == nil {
			s.own = map[int64]bool{}
		}
		s.own[seq] = true
	}
	s.seq = max(s.seq, seq)
	e.seq = seq
	l.apply(s, e, holdout)
	// Refits cost a pass over every example: as examples grow they come
	// less often, so their total cost stays linear in the examples.
	refit := s.sinceRefit >= max(l.o.RefitEvery, len(s.train)/10)
	save := l.o.Store != nil && l.o.SaveEvery > 0 && s.sinceSave >= l.o.SaveEvery
	s.mu.Unlock()
	if refit && batch {
		// Off the caller's path (a client's feedback request): a refit is a
		// pass over every example, five more for the out-of-fold
		// predictions. One at a time per scope (refit's TryLock).
		go l.refit(s)
	}
	if save && batch && err == nil {
		_, err = l.Save(ctx, x.Scope, "")
	}
	return err
}

// apply adds an example to a scope in memory: held out, or trained on
// with one online step. s.mu is held.
func (l *Learner) apply(s *scope, e example, holdout bool) {
	if holdout {
		s.holdout = appendBounded(s.holdout, e, l.o.MaxExamples/4)
	} else {
		s.train = appendBounded(s.train, e, l.o.MaxExamples)
		s.m.update(e.feats, e.label, e.weight)
		for _, m := range s.folds {
			m.update(e.feats, e.label, e.weight)
		}
		s.sinceRefit++
	}
	s.sources[e.source]++
	s.sinceSave++
}

// Sync learns the examples other instances of a fleet stored since the
// last Sync (or Load): every instance scores with the same examples, so
// feedback taught on one teaches all. It returns how many it learned.
func (l *Learner) Sync(ctx context.Context) (int, error) {
	if l.o.Store == nil {
		return 0, nil
	}
	names, err := l.o.Store.LearnedScopes(ctx)
	if err != nil {
		return 0, fmt.Errorf("sync learned scorers: %w", err)
	}
	total := 0
	for _, name := range names {
		n, err := l.syncScope(ctx, l.scope(name))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (l *Learner) syncScope(ctx context.Context, s *scope) (int, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	learned := 0
	for {
		s.mu.RLock()
		after := s.synced
		s.mu.RUnlock()
		page, err := l.o.Store.ListLearnedExamples(ctx, s.name, after, 1000)
		if err != nil {
			return learned, fmt.Errorf("sync learned scorer %s: %w", s.name, err)
		}
		decoded := make([]example, 0, len(page))
		for _, x := range page {
			e, err := decodeExample(x)
			if err != nil {
				return learned, fmt.Errorf("sync learned scorer %s: %w", s.name, err)
			}
			decoded = append(decoded, e)
		}
		s.mu.Lock()
		for i, x := range page {
			if x.Seq <= s.synced {
				continue
			}
			s.synced = x.Seq
			if s.own[x.Seq] {
				delete(s.own, x.Seq)
				continue
			}
			s.seq = max(s.seq, x.Seq)
			l.apply(s, decoded[i], x.Holdout)
			learned++
		}
		refit := learned > 0 && s.sinceRefit >= max(l.o.RefitEvery, len(s.train)/10)
		s.mu.Unlock()
		if refit {
			go l.refit(s)
		}
		if len(page) < 1000 {
			return learned, nil
		}
	}
}

// decodeExample is a stored example in memory.
func decodeExample(x *chorus.LearnedExample) (example, error) {
	var fs []Feature
	if err := json.Unmarshal(x.Features, &fs); err != nil {
		return example{}, fmt.Errorf("example %d: %w", x.Seq, err)
	}
	e := example{seq: x.Seq, feats: fs, label: x.Label, weight: x.Weight, model: x.Model, source: x.Source,
		unbiased: x.Source == chorus.LearnedFromExplore || x.Source == chorus.LearnedFromImport, in: x.InputTokens, out: x.OutputTokens}
	if len(x.PriorFeatures) > 0 {
		if err := json.Unmarshal(x.PriorFeatures, &e.prior); err != nil {
			return example{}, fmt.Errorf("example %d: prior: %w", x.Seq, err)
		}
	}
	return e, nil
}

// feedbackRescan is how far back (in feedback IDs) SyncFeedback looks
// again each time: IDs are taken in one order and committed in another,
// so a row may appear behind the newest one seen. An answer teaches once
// (pendingAnswer.rated), so a row read twice teaches once.
const feedbackRescan = 256

// SyncFeedback follows the feedback stored by every instance: feedback on
// an answer this instance scored — its features are remembered here alone
// — teaches the learner even when another instance received it. The
// first call starts at the newest feedback.
func (l *Learner) SyncFeedback(ctx context.Context, src FeedbackSource) (int, error) {
	l.fbMu.Lock()
	defer l.fbMu.Unlock()
	if !l.fbStarted {
		id, err := src.MaxFeedbackID(ctx)
		if err != nil {
			return 0, fmt.Errorf("follow feedback: %w", err)
		}
		l.fbCursor, l.fbStarted = id, true
		return 0, nil
	}
	after, newest, taught := max(0, l.fbCursor-feedbackRescan), l.fbCursor, 0
	for {
		page, err := src.ListFeedback(ctx, chorus.FeedbackFilter{}, chorus.Page{After: after, Limit: chorus.MaxPageSize})
		if err != nil {
			return taught, fmt.Errorf("follow feedback: %w", err)
		}
		for _, f := range page {
			after, newest = f.ID, max(newest, f.ID)
			if l.pending.unrated(f.ResponseID) {
				if _, err := l.Feedback(ctx, f); err != nil {
					return taught, err
				}
				taught++
			}
		}
		if len(page) < chorus.MaxPageSize {
			break
		}
	}
	l.fbCursor = newest
	return taught, nil
}

// unrated reports whether an answer is remembered and no feedback taught
// it yet.
func (p *pendingSet) unrated(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.m[id]
	return a != nil && !a.rated
}

// heldOut reports whether the example with this key is in the holdout
// slice: a hash, so an example is held out the same way on every instance.
func (l *Learner) heldOut(key string) bool {
	h := fnv.New64a()
	h.Write([]byte(key))
	return float64(h.Sum64()%10_000)/10_000 < l.o.Holdout
}

func appendBounded(xs []example, e example, limit int) []example {
	xs = append(xs, e)
	if len(xs) > limit {
		xs = slices.Delete(xs, 0, len(xs)-limit)
	}
	return xs
}

// folds is how many parts a refit splits the training examples into to
// predict each part with weights that never saw it (out-of-fold), so that
// a target can be calibrated on every unbiased example, not only the
// held-out ones.
const folds = 5

// refit retrains the scope from its training examples: several passes in a
// shuffled order fixed by the example count, so a refit is reproducible;
// and, for calibration, out-of-fold predictions of the unbiased ones. The
// weights are swapped in at the end; predictions never wait on it. Online
// steps taken while it ran are in the examples, so the next refit has them.
func (l *Learner) refit(s *scope) {
	if !s.refitting.TryLock() {
		return
	}
	defer s.refitting.Unlock()
	l.refitLocked(s)
}

// refitNow is refit that waits for a refit already running, then refits
// (an import's examples must be in the weights when it returns).
func (l *Learner) refitNow(s *scope) {
	s.refitting.Lock()
	defer s.refitting.Unlock()
	l.refitLocked(s)
}

// refitLocked refits; the caller holds s.refitting.
func (l *Learner) refitLocked(s *scope) {
	s.mu.RLock()
	train := slices.Clone(s.train)
	s.mu.RUnlock()
	m := l.fit(train, -1)
	oof, fm := l.outOfFold(train)
	s.mu.Lock()
	s.m = m
	s.oof, s.folds = oof, fm
	s.gen++
	s.sinceRefit = 0
	s.mu.Unlock()
}

// outOfFold fits a model per fold on the other folds' examples and
// predicts each unbiased training example with the model that did not see
// it. It returns the predictions and the fold models (nil with fewer
// examples than folds).
func (l *Learner) outOfFold(train []example) (map[int64]float64, []*weights) {
	oof := map[int64]float64{}
	if len(train) < folds {
		return oof, nil
	}
	fm := make([]*weights, folds)
	for k := range folds {
		fm[k] = l.fit(train, k)
		for i, e := range train {
			if i%folds == k && e.unbiased {
				oof[e.seq] = fm[k].predict(e.feats)
			}
		}
	}
	return oof, fm
}

// fit trains new weights on the examples, leaving out those of fold skip
// (by index modulo folds; -1 leaves none out).
func (l *Learner) fit(train []example, skip int) *weights {
	m := newWeights()
	r := rand.New(rand.NewPCG(uint64(len(train)), 0x5eed)) // #nosec G404 -- training order, not a secret
	order := make([]int, 0, len(train))
	for i := range train {
		if skip < 0 || i%folds != skip {
			order = append(order, i)
		}
	}
	for range l.o.Epochs {
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			m.update(train[i].feats, train[i].label, train[i].weight)
		}
	}
	return m
}

// snapshot is a saved version's weights and counts.
type snapshot struct {
	Z       map[uint32]float64 `json:"z"`
	N       map[uint32]float64 `json:"n"`
	Sources map[string]int64   `json:"sources"`
}

// Save stores the scope's weights as a new version and returns it.
func (l *Learner) Save(ctx context.Context, scopeName, note string) (*chorus.LearnedModel, error) {
	s := l.lookup(scopeName)
	if s == nil {
		return nil, &chorus.Error{Code: chorus.ENOTFOUND, Param: "scope", Message: "No learned scorer " + scopeName + " has learned anything yet."}
	}
	if l.o.Store == nil {
		return nil, errors.New("save learned scorer: no store")
	}
	s.mu.Lock()
	snap := snapshot{Z: maps(s.m.z), N: maps(s.m.n), Sources: mapsString(s.sources)}
	m := &chorus.LearnedModel{Scope: scopeName, Seq: s.seq, Note: note} // the store numbers the version (a fleet saves the same scorer)
	s.sinceSave = 0
	s.mu.Unlock()
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	m.Snapshot = raw
	if err := l.o.Store.SaveLearnedModel(ctx, m); err != nil {
		return nil, fmt.Errorf("save learned scorer %s: %w", scopeName, err)
	}
	s.mu.Lock()
	s.version = max(s.version, m.Version)
	s.mu.Unlock()
	m.Snapshot = nil
	return m, nil
}

func maps(m map[uint32]float64) map[uint32]float64 {
	out := make(map[uint32]float64, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func mapsString(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Rollback makes version the scope's current weights, as a new version,
// and forgets (also in the store) the examples learned after it: what a
// bad import or a burst of junk feedback taught is undone.
func (l *Learner) Rollback(ctx context.Context, scopeName string, version int64) (*chorus.LearnedModel, error) {
	if l.o.Store == nil {
		return nil, errors.New("roll back learned scorer: no store")
	}
	old, err := l.o.Store.LearnedModel(ctx, scopeName, version)
	if err != nil {
		return nil, err
	}
	var snap snapshot
	if err := json.Unmarshal(old.Snapshot, &snap); err != nil {
		return nil, fmt.Errorf("roll back learned scorer %s: version %d: %w", scopeName, version, err)
	}
	if err := l.o.Store.DeleteLearnedExamplesAfter(ctx, scopeName, old.Seq); err != nil {
		return nil, err
	}
	s := l.scope(scopeName)
	s.refitting.Lock() // no refit of the examples being dropped may land after this
	defer s.refitting.Unlock()
	s.mu.Lock()
	s.m = &weights{z: orEmpty(snap.Z), n: orEmpty(snap.N)}
	s.gen++
	keep := func(xs []example) []example {
		return slices.DeleteFunc(xs, func(e example) bool { return e.seq > old.Seq })
	}
	s.train, s.holdout = keep(s.train), keep(s.holdout)
	s.seq = old.Seq
	s.synced, s.own = old.Seq, nil // the store numbers the next example old.Seq+1 again
	s.sources = orEmptyString(snap.Sources)
	s.folds, s.oof = nil, nil // the version's weights serve until the fold models of its examples are fitted
	train := slices.Clone(s.train)
	s.mu.Unlock()
	oof, fm := l.outOfFold(train)
	s.mu.Lock()
	s.oof, s.folds = oof, fm
	s.gen++
	s.mu.Unlock()
	return l.Save(ctx, scopeName, fmt.Sprintf("rollback to version %d", version))
}

func orEmpty(m map[uint32]float64) map[uint32]float64 {
	if m == nil {
		return map[uint32]float64{}
	}
	return m
}

func orEmptyString(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// Load restores every scope from the store: the latest version's weights,
// and the examples (the newest MaxExamples) for measuring and refits.
// Examples newer than the version are learned again.
func (l *Learner) Load(ctx context.Context) error {
	if l.o.Store == nil {
		return nil
	}
	models, err := l.o.Store.LatestLearnedModels(ctx)
	if err != nil {
		return fmt.Errorf("load learned scorers: %w", err)
	}
	for _, m := range models {
		var snap snapshot
		if err := json.Unmarshal(m.Snapshot, &snap); err != nil {
			return fmt.Errorf("load learned scorer %s version %d: %w", m.Scope, m.Version, err)
		}
		s := l.scope(m.Scope)
		s.mu.Lock()
		s.m = &weights{z: orEmpty(snap.Z), n: orEmpty(snap.N)}
		s.version, s.seq, s.sources = m.Version, m.Seq, orEmptyString(snap.Sources)
		s.mu.Unlock()
		if err := l.loadExamples(ctx, s, m.Seq); err != nil {
			return err
		}
		s.mu.RLock()
		train := slices.Clone(s.train)
		s.mu.RUnlock()
		oof, fm := l.outOfFold(train)
		s.mu.Lock()
		s.oof, s.folds = oof, fm
		s.gen++
		s.mu.Unlock()
	}
	return nil
}

// loadExamples reads a scope's examples; those after seq (learned since
// the version was saved) take their online step again.
func (l *Learner) loadExamples(ctx context.Context, s *scope, seq int64) error {
	after := int64(0)
	for {
		page, err := l.o.Store.ListLearnedExamples(ctx, s.name, after, 1000)
		if err != nil {
			return fmt.Errorf("load learned scorer %s examples: %w", s.name, err)
		}
		decoded := make([]example, 0, len(page))
		for _, x := range page {
			e, err := decodeExample(x)
			if err != nil {
				return fmt.Errorf("load learned scorer %s: %w", s.name, err)
			}
			decoded = append(decoded, e)
		}
		s.mu.Lock()
		for i, x := range page {
			e := decoded[i]
			if x.Holdout {
				s.holdout = appendBounded(s.holdout, e, l.o.MaxExamples/4)
			} else {
				s.train = appendBounded(s.train, e, l.o.MaxExamples)
				if x.Seq > seq {
					s.m.update(e.feats, x.Label, x.Weight)
					s.sources[x.Source]++
				}
			}
			s.seq = max(s.seq, x.Seq)
			s.synced = max(s.synced, x.Seq)
			after = x.Seq
		}
		s.mu.Unlock()
		if len(page) < 1000 {
			return nil
		}
	}
}

// pendingAnswer is a scored answer waiting for its feedback.
type pendingAnswer struct {
	scope    string
	model    string
	feats    []Feature
	prior    []Feature
	explored bool
	judged   bool
	rated    bool // a client's feedback taught it already
	in, out  int64
}

// pendingSet remembers the last max scored answers by response ID, oldest
// forgotten first.
type pendingSet struct {
	mu    sync.Mutex
	max   int
	m     map[string]*pendingAnswer
	order []string
	head  int
}

func (p *pendingSet) put(id string, a *pendingAnswer) {
	if id == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[id]; ok {
		p.m[id] = a
		return
	}
	if len(p.order) < p.max {
		p.order = append(p.order, id)
	} else {
		delete(p.m, p.order[p.head])
		p.order[p.head] = id
		p.head = (p.head + 1) % p.max
	}
	p.m[id] = a
}

// Remember keeps a scored answer's features (and, for a later cascade
// tier's answer, the first tier's answer's: prior) until its feedback
// comes.
func (l *Learner) Remember(responseID, scopeName, model string, fs, prior []Feature, explored bool, in, out int64) {
	l.pending.put(responseID, &pendingAnswer{scope: scopeName, model: model, feats: fs, prior: prior, explored: explored, in: in, out: out})
}

// Feedback learns from a client's feedback on an answer a learned scorer
// scored (its features remembered): the feedback's score, else 1 for up
// and 0 for down; once per answer (the first feedback). It reports whether
// the answer was known.
func (l *Learner) Feedback(ctx context.Context, f *chorus.Feedback) (bool, error) {
	l.pending.mu.Lock()
	a := l.pending.m[f.ResponseID]
	first := a != nil && !a.rated
	if first {
		a.rated = true
	}
	l.pending.mu.Unlock()
	if a == nil {
		return false, nil
	}
	if !first {
		// Each answer teaches once: a second rating (another member of
		// the team, or a changed mind) would count the answer twice.
		return true, nil
	}
	label := 0.0
	switch {
	case f.Score != nil:
		label = *f.Score
	case f.Rating == chorus.RatingUp:
		label = 1
	}
	src := chorus.LearnedFromFeedback
	if a.explored {
		src = chorus.LearnedFromExplore
	}
	return true, l.Learn(ctx, Labelled{Scope: a.scope, ResponseID: f.ResponseID, Model: a.model, Features: a.feats,
		Label: label, Source: src, Unbiased: a.explored, In: a.in, Out: a.out, Prior: a.prior})
}

// judgeWeight is a judge's verdict's weight as a label: a judge is an
// imperfect grader, so clients' feedback counts double.
const judgeWeight = 0.5

// judged learns from a judge's verdict on a remembered answer, once per
// answer.
func (l *Learner) judged(ctx context.Context, responseID string, verdict float64) error {
	l.pending.mu.Lock()
	a := l.pending.m[responseID]
	if a == nil || a.judged {
		l.pending.mu.Unlock()
		return nil
	}
	a.judged = true
	l.pending.mu.Unlock()
	return l.Learn(ctx, Labelled{Scope: a.scope, ResponseID: responseID, Model: a.model, Features: a.feats,
		Label: verdict, Weight: judgeWeight, Source: chorus.LearnedFromJudge, In: a.in, Out: a.out, key: "judge:" + responseID})
}

// sameTier compares tiers by model and price values.
func sameTier(a, b Tier) bool {
	p := func(x *int64) int64 {
		if x == nil {
			return -1
		}
		return *x
	}
	return a.Model == b.Model && a.Prices.Input == b.Prices.Input && a.Prices.Output == b.Prices.Output &&
		p(a.Prices.CachedInput) == p(b.Prices.CachedInput) && p(a.Prices.CacheWrite) == p(b.Prices.CacheWrite) &&
		p(a.Prices.Reasoning) == p(b.Prices.Reasoning)
}

// ImportedExample is an operator's labelled example.
type ImportedExample struct {
	Example
	Label float64 // in [0, 1]
}

// Import learns from an operator's labelled examples (source "import",
// unbiased: usable to calibrate a target), refits once at the end and saves
// a version. It returns how many were learned.
func (l *Learner) Import(ctx context.Context, scopeName string, xs []ImportedExample) (int, error) {
	for i, x := range xs {
		fs := Featurize(x.Example)
		in := int64(provider.EstimateTokens(x.Question) + 7) // a system-less chat request's framing
		out := int64(provider.EstimateTokens(x.Answer))
		err := l.learn(ctx, Labelled{Scope: scopeName, Model: x.Model, Features: fs, Label: x.Label, Source: chorus.LearnedFromImport,
			Unbiased: true, In: in, Out: out, key: "import:" + x.Model + "\x00" + x.Question + "\x00" + x.Answer}, false)
		if err != nil {
			return i, err
		}
	}
	if len(xs) == 0 {
		return 0, nil
	}
	s := l.scope(scopeName)
	l.refitNow(s)
	if l.o.Store != nil {
		if _, err := l.Save(ctx, scopeName, fmt.Sprintf("import of %d examples", len(xs))); err != nil {
			return len(xs), err
		}
	}
	return len(xs), nil
}

// Versions lists a scope's saved versions, newest first (none without a
// store).
func (l *Learner) Versions(ctx context.Context, scopeName string) ([]*chorus.LearnedModel, error) {
	if l.o.Store == nil {
		return []*chorus.LearnedModel{}, nil
	}
	return l.o.Store.ListLearnedModels(ctx, scopeName)
}

// Flush saves a version of every scope that learned something since its
// last one (at shutdown: examples are stored as they come, so nothing is
// lost without it, but a restart then replays them).
func (l *Learner) Flush(ctx context.Context) error {
	if l.o.Store == nil {
		return nil
	}
	var errs []error
	for _, name := range l.Scopes() {
		s := l.lookup(name)
		s.mu.RLock()
		dirty := s.sinceSave > 0
		s.mu.RUnlock()
		if dirty {
			if _, err := l.Save(ctx, name, "saved at shutdown"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
