package api

import "net/http"

// InstanceHeader names, on every response, the instance that answered.
const InstanceHeader = "X-Chorus-Instance"

// Instance names the instance id on every response (InstanceHeader) and,
// once draining is closed, answers with "Connection: close": the client
// (a load balancer's keep-alive pool) then closes the connection itself
// after the response, instead of finding it closed under a request it has
// just sent, which it could not safely retry for a POST.
func Instance(id string, draining <-chan struct{}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set(InstanceHeader, id)
		select {
		case <-draining:
			h.Set("Connection", "close")
		default:
		}
		next.ServeHTTP(w, r)
	})
}
