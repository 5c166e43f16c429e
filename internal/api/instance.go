package api

import "net/http"

// InstanceHeader names, on every response, the instance that answered.
const InstanceHeader = "X-Chorus-Instance"

// Instance names the instance id on every response (InstanceHeader) and,
// once draining is closed, sends every response it has not yet begun with
// "Connection: close" — whenever the request arrived, and whatever the
// handler set (a stream says keep-alive). The client (a load balancer's
// keep-alive pool) then closes the connection itself after the response,
// instead of finding it closed under a request it has just sent, which it
// could not safely retry for a POST.
func Instance(id string, draining <-chan struct{}, next http.Handler) http.Handler {
	value := []string{id} // shared by every response, never written to
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()[InstanceHeader] = value
		next.ServeHTTP(&drainWriter{ResponseWriter: w, draining: draining}, r)
	})
}

// drainWriter adds "Connection: close" as the response head is written,
// if the server is draining by then. It forwards Flush and Unwrap so
// streaming and http.ResponseController keep working.
type drainWriter struct {
	http.ResponseWriter
	draining <-chan struct{}
	begun    bool // the final head is written: too late to change it
}

func (w *drainWriter) WriteHeader(code int) {
	w.beginResponse(code >= 200)
	w.ResponseWriter.WriteHeader(code)
}

func (w *drainWriter) Write(b []byte) (int, error) {
	w.beginResponse(true)
	return w.ResponseWriter.Write(b)
}

func (w *drainWriter) Flush() {
	w.beginResponse(true)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *drainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// beginResponse sets Connection: close while draining; final is false for
// an informational (1xx) head, after which the final one still follows.
func (w *drainWriter) beginResponse(final bool) {
	if w.begun {
		return
	}
	w.begun = final
	select {
	case <-w.draining:
		w.Header().Set("Connection", "close")
	default:
	}
}
