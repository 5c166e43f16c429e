package manage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

// replicaStore is a Store with read replicas; only the replica methods
// are implemented (the embedded nil Store panics if anything else is
// called).
type replicaStore struct {
	Store
	states  []chorus.ReplicaState
	pos     string
	readCtx context.Context // the context the last ReadAfter returned
}

type afterKey struct{}

func (f *replicaStore) Replicas() []chorus.ReplicaState { return f.states }

func (f *replicaStore) WritePosition(context.Context) (string, error) { return f.pos, nil }

func (f *replicaStore) ReadAfter(ctx context.Context, token string) context.Context {
	f.readCtx = context.WithValue(ctx, afterKey{}, token)
	return f.readCtx
}

func TestReadYourWrites(t *testing.T) {
	fresh := []chorus.ReplicaState{{Name: "db2:5432/chorus", Status: chorus.ReplicaOK}}
	// serve runs a request through readYourWrites and a handler that
	// answers code, and returns the answer and the position the handler's
	// context carried.
	serve := func(st *replicaStore, req *http.Request, code int) (*httptest.ResponseRecorder, any) {
		s := &Server{Store: st}
		rec := httptest.NewRecorder()
		w, r := s.readYourWrites(rec, req)
		w.WriteHeader(code)
		_, _ = w.Write([]byte("{}"))
		return rec, r.Context().Value(afterKey{})
	}

	t.Run("WriteHandsBackPosition", func(t *testing.T) {
		rec, _ := serve(&replicaStore{states: fresh, pos: "0/3000148"}, httptest.NewRequest("POST", "/api/checkout", nil), http.StatusCreated)
		if got := rec.Header().Get(readAfterHeader); got != "0/3000148" {
			t.Errorf("header %q", got)
		}
		c := rec.Result().Cookies()
		if len(c) != 1 || c[0].Name != readAfterCookie || c[0].Value != "0/3000148" || !c[0].HttpOnly || c[0].MaxAge != 3600 {
			t.Errorf("cookies %+v", c)
		}
	})
	t.Run("FailedWriteHandsBackNothing", func(t *testing.T) {
		rec, _ := serve(&replicaStore{states: fresh, pos: "0/3000148"}, httptest.NewRequest("POST", "/api/checkout", nil), http.StatusConflict)
		if rec.Header().Get(readAfterHeader) != "" || len(rec.Result().Cookies()) != 0 {
			t.Errorf("a failed write stamped %v", rec.Header())
		}
	})
	t.Run("ReadCarriesCookie", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/api/orders", nil)
		req.AddCookie(&http.Cookie{Name: readAfterCookie, Value: "0/3000148"})
		rec, after := serve(&replicaStore{states: fresh, pos: "0/4000000"}, req, http.StatusOK)
		if after != "0/3000148" {
			t.Errorf("read bound to %v, want the cookie's position", after)
		}
		if rec.Header().Get(readAfterHeader) != "" {
			t.Error("a read stamped a position")
		}
	})
	t.Run("HeaderWinsOverCookie", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/api/orders", nil)
		req.AddCookie(&http.Cookie{Name: readAfterCookie, Value: "0/1"})
		req.Header.Set(readAfterHeader, "0/2")
		if _, after := serve(&replicaStore{states: fresh}, req, http.StatusOK); after != "0/2" {
			t.Errorf("read bound to %v", after)
		}
	})
	t.Run("NoReplicas", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/api/checkout", nil)
		req.AddCookie(&http.Cookie{Name: readAfterCookie, Value: "0/1"})
		rec, after := serve(&replicaStore{pos: "0/3000148"}, req, http.StatusCreated)
		if after != nil || rec.Header().Get(readAfterHeader) != "" || len(rec.Result().Cookies()) != 0 {
			t.Errorf("without replicas: bound to %v, header %v", after, rec.Header())
		}
	})
}

func TestReplicaReadiness(t *testing.T) {
	s := &Server{Store: &replicaStore{states: []chorus.ReplicaState{
		{Name: "db2:5432/chorus", Status: chorus.ReplicaOK, Lag: 12 * time.Millisecond, LagBytes: 512},
		{Name: "db3:5432/chorus", Status: chorus.ReplicaPaused, Lag: 7 * time.Second, LagBytes: 9000},
		{Name: "db4:5432/chorus", Status: chorus.ReplicaUnreachable, Err: "connection refused"},
	}}}
	got := s.replicaChecks()
	want := []struct{ name, status, message string }{
		{"db2:5432/chorus", CheckOK, "replica db2:5432/chorus: ok (lag 0.012s, 512 bytes)"},
		{"db3:5432/chorus", CheckDegraded, "replica db3:5432/chorus: degraded: paused (lag 7.000s, 9000 bytes); its reads go to the primary"},
		{"db4:5432/chorus", CheckDegraded, "replica db4:5432/chorus: degraded: unreachable (connection refused); its reads go to the primary"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d checks, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.Name != w.name || g.Status != w.status || g.Message != w.message {
			t.Errorf("check %d = %+v, want %+v", i, g, w)
		}
	}
	if *got[1].Lag != 7 || *got[1].LagBytes != 9000 {
		t.Errorf("paused replica's lag = %v s, %v bytes", *got[1].Lag, *got[1].LagBytes)
	}
}
