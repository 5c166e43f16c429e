package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/chorusgw/chorus"
)

// Kinds of Problem a Verifier reports.
const (
	// KindModified: the entry's hash does not match its contents (a field,
	// its prev_hash or its hash was changed).
	KindModified = "modified"
	// KindMissing: the entry with this seq is missing (deleted).
	KindMissing = "missing"
	// KindReordered: the entry stored at this seq was written at another
	// seq (entries were swapped, moved or renumbered).
	KindReordered = "reordered"
	// KindRewritten: the entry is consistent in itself, but the next entry
	// (or the head) does not link to it: it was rewritten and its hash
	// recomputed (or the next entry's prev_hash was).
	KindRewritten = "rewritten"
	// KindTruncated: the head says the chain is longer than the stored
	// entries: the entries from this seq on were deleted.
	KindTruncated = "truncated"
	// KindUnanchored: entries from this seq on are not covered by the head:
	// they were added outside the store.
	KindUnanchored = "unanchored"
)

// Problem is the first inconsistency a Verifier finds (chorus.AuditProblem).
type Problem = chorus.AuditProblem

// reorderWindow bounds the search for the seq a misplaced entry was written
// at: that many seqs on each side of where it is found. It costs two hashes
// per seq, once, for the first problem only.
const reorderWindow = 1 << 16

// Verifier checks a chain fed to it entry by entry, in seq order, with
// memory that does not grow with the chain. The zero value is ready to use.
type Verifier struct {
	n        int64  // entries accepted
	lastSeq  int64  // 0 before the first entry
	lastHash []byte // nil before the first entry
	problem  *Problem
	buf      []byte // encoding scratch
}

// Entries returns the number of entries verified so far.
func (v *Verifier) Entries() int64 { return v.n }

// Head returns the seq and hash of the last verified entry (0 and the zero
// hash before the first).
func (v *Verifier) Head() (int64, []byte) {
	if v.lastHash == nil {
		return 0, ZeroHash()
	}
	return v.lastSeq, v.lastHash
}

// Add checks the next entry, which must have been read in seq order, and
// returns the first problem of the chain so far (nil while there is none).
// Once there is a problem, Add returns it without looking further.
func (v *Verifier) Add(e *chorus.AuditEntry) *Problem {
	if v.problem != nil {
		return v.problem
	}
	v.problem = v.check(e)
	if v.problem == nil {
		v.n++
		v.lastSeq = e.Seq
		v.lastHash = append(v.lastHash[:0], e.Hash...)
	}
	return v.problem
}

func (v *Verifier) check(e *chorus.AuditEntry) *Problem {
	want := v.lastSeq + 1
	switch {
	case e.Seq > want:
		return &Problem{Seq: want, Kind: KindMissing,
			Detail: fmt.Sprintf("entries %d to %d are missing (deleted)", want, e.Seq-1)}
	case e.Seq < want:
		return &Problem{Seq: e.Seq, Kind: KindReordered,
			Detail: fmt.Sprintf("entry %d comes after entry %d", e.Seq, v.lastSeq)}
	}
	v.buf = AppendEncoding(v.buf[:0], e)
	sum := sha256.Sum256(v.buf)
	if !bytes.Equal(sum[:], e.Hash) {
		if at, ok := v.writtenAt(e.Seq, e.Hash); ok {
			return &Problem{Seq: e.Seq, Kind: KindReordered,
				Detail: fmt.Sprintf("the entry stored at seq %d was written as seq %d", e.Seq, at)}
		}
		return &Problem{Seq: e.Seq, Kind: KindModified,
			Detail: fmt.Sprintf("hash mismatch: contents hash to %x, stored hash is %x", sum[:], e.Hash)}
	}
	prev := v.lastHash
	if prev == nil {
		prev = ZeroHash()
	}
	if !bytes.Equal(e.PrevHash, prev) {
		if e.Seq == 1 {
			return &Problem{Seq: 1, Kind: KindModified,
				Detail: fmt.Sprintf("the first entry's prev_hash is %x, not zero: it was forged", e.PrevHash)}
		}
		return &Problem{Seq: e.Seq - 1, Kind: KindRewritten,
			Detail: fmt.Sprintf("entry %d has hash %x but entry %d's prev_hash is %x: one of them was rewritten with a recomputed hash",
				e.Seq-1, prev, e.Seq, e.PrevHash)}
	}
	return nil
}

// writtenAt looks for the seq near seq under which the entry's current
// encoding (v.buf) hashes to hash: the seq it was written at.
func (v *Verifier) writtenAt(seq int64, hash []byte) (int64, bool) {
	if len(hash) != HashSize {
		return 0, false
	}
	try := func(s int64) bool {
		binary.BigEndian.PutUint64(v.buf[seqOffset:], uint64(s)) // #nosec G115 -- bit-for-bit reinterpretation of the sequence number in the canonical encoding
		sum := sha256.Sum256(v.buf)
		return bytes.Equal(sum[:], hash)
	}
	defer binary.BigEndian.PutUint64(v.buf[seqOffset:], uint64(seq)) // #nosec G115 -- bit-for-bit reinterpretation of the sequence number in the canonical encoding
	for d := int64(1); d <= reorderWindow; d++ {
		if try(seq + d) {
			return seq + d, true
		}
		if seq-d >= 1 && try(seq-d) {
			return seq - d, true
		}
	}
	return 0, false
}

// End checks the stored head of the chain (the seq and hash of the last
// entry, as recorded with every append) against the entries fed to Add, and
// returns the first problem of the whole chain, or nil if it is intact.
func (v *Verifier) End(headSeq int64, headHash []byte) *Problem {
	if v.problem != nil {
		return v.problem
	}
	lastSeq, lastHash := v.Head()
	switch {
	case headSeq > lastSeq:
		v.problem = &Problem{Seq: lastSeq + 1, Kind: KindTruncated,
			Detail: fmt.Sprintf("the head is at seq %d but the last entry is %d: entries %d to %d were deleted",
				headSeq, lastSeq, lastSeq+1, headSeq)}
	case headSeq < lastSeq:
		v.problem = &Problem{Seq: headSeq + 1, Kind: KindUnanchored,
			Detail: fmt.Sprintf("the head is at seq %d but entries run to %d: entries %d to %d were added outside the store",
				headSeq, lastSeq, headSeq+1, lastSeq)}
	case !bytes.Equal(headHash, lastHash):
		v.problem = &Problem{Seq: lastSeq, Kind: KindRewritten,
			Detail: fmt.Sprintf("the head's hash is %s but the last entry's is %s: the last entry was rewritten with a recomputed hash",
				hex.EncodeToString(headHash), hex.EncodeToString(lastHash))}
	}
	return v.problem
}
