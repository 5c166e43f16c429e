package meter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
)

// Strict mode's group commit. Every strict request writes twice — its hold,
// then its settlement — and both change its team's wallet row, which a
// transaction holds locked until it commits: one transaction per step
// would serialise a team's requests on that row, one commit (one fsync)
// after another. Instead each step is queued, and one goroutine per meter
// (so per instance and database) takes everything queued and writes it in
// one transaction (store.StrictCommit): one wallet update per team for the
// sum, the hold rows in bulk, every settlement with its spend posting and
// usage record. Each caller waits for its own step's outcome, so a hold is
// placed, and a settlement durable, when Reserve or Settle returns, as
// before.
//
// There is no waiting window: the committer starts a transaction as soon as
// the previous one ended, with whatever queued meanwhile (natural
// batching), so a lone request pays one transaction as before, and under
// load the batch grows with the commit time instead of the queue.
//
// A batch whose transaction fails is split in halves and each retried, down
// to single steps, so a step that makes a transaction fail (or a deadlock
// with another instance's batch) fails only itself. A retried step is safe:
// settlements are idempotent by key, and a hold whose rows exist is taken
// as placed.

// maxBatch bounds the steps of one transaction.
const maxBatch = 256

// batchTimeout bounds one batch's transaction: a database that hangs fails
// the waiting requests instead of holding them forever.
const batchTimeout = 30 * time.Second

// committer is the group commit of one meter.
type committer struct {
	commit func(ctx context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error)

	mu      sync.Mutex
	queue   []*step
	running bool // a goroutine is writing batches

	batches, steps atomic.Int64
}

// step is one queued request step and, once its batch ended, its outcome.
type step struct {
	op    chorus.StrictOp
	state atomic.Int32 // stepQueued, stepTaken or stepCanceled
	done  chan struct{}
	out   chorus.StrictOutcome
	err   error
}

const (
	stepQueued int32 = iota
	stepTaken
	stepCanceled
)

// do queues op and waits for its outcome. A step whose ctx ends before a
// batch took it is dropped (ctx's error); once taken, do waits for the
// batch to end, so a hold placed for a caller is never left unknown to it.
func (c *committer) do(ctx context.Context, op chorus.StrictOp) (chorus.StrictOutcome, error) {
	s := &step{op: op, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, s)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		if s.state.CompareAndSwap(stepQueued, stepCanceled) {
			return chorus.StrictOutcome{}, ctx.Err()
		}
		<-s.done
	}
	return s.out, s.err
}

// run writes batches until the queue is empty.
func (c *committer) run() {
	for {
		batch := c.take()
		if batch == nil {
			return
		}
		c.write(batch)
	}
}

// take removes up to maxBatch steps from the queue, dropping those
// canceled; it returns nil, and marks the committer stopped, when the
// queue is empty.
func (c *committer) take() []*step {
	c.mu.Lock()
	defer c.mu.Unlock()
	var batch []*step
	n := 0
	for ; n < len(c.queue) && len(batch) < maxBatch; n++ {
		if s := c.queue[n]; s.state.CompareAndSwap(stepQueued, stepTaken) {
			batch = append(batch, s)
		}
	}
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
	if len(batch) == 0 {
		c.running = false
	}
	return batch
}

// write commits batch and wakes its steps; a failed batch is split and
// each half written again, down to single steps.
func (c *committer) write(batch []*step) {
	ops := make([]chorus.StrictOp, len(batch))
	for i, s := range batch {
		ops[i] = s.op
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	outs, err := c.commit(ctx, ops)
	cancel()
	if err != nil && len(batch) > 1 {
		c.write(batch[:len(batch)/2])
		c.write(batch[len(batch)/2:])
		return
	}
	if err == nil {
		c.batches.Add(1)
		c.steps.Add(int64(len(batch)))
	}
	for i, s := range batch {
		if err != nil {
			s.err = err
		} else {
			s.out = outs[i]
		}
		close(s.done)
	}
}
