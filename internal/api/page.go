package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
)

// PathID parses the {id} path segment.
func PathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, chorus.Invalid("id", "id must be a positive integer, got %q", r.PathValue("id"))
	}
	return id, nil
}

// PageOf parses ?limit= and ?after= with an enforced maximum.
func PageOf(q url.Values) (chorus.Page, error) {
	p := chorus.Page{Limit: chorus.DefaultPageSize}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > chorus.MaxPageSize {
			return p, chorus.Invalid("limit", "limit must be an integer from 1 to %d, got %q", chorus.MaxPageSize, v)
		}
		p.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, chorus.Invalid("after", "after must be a non-negative integer (the last id of the previous page), got %q", v)
		}
		p.After = n
	}
	return p, nil
}

// IDParam reads an optional positive integer parameter.
func IDParam(q url.Values, name string) (*int64, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return nil, chorus.Invalid(name, "%s must be a positive integer, got %q", name, v)
	}
	return &n, nil
}

// TimeParam reads an optional RFC 3339 time parameter (zero when absent).
func TimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, chorus.Invalid(name, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", name, v)
	}
	return t, nil
}

// TimeRange reads ?since= and ?until= (each optional); until must come
// after since.
func TimeRange(q url.Values) (since, until time.Time, err error) {
	if since, err = TimeParam(q, "since"); err != nil {
		return since, until, err
	}
	if until, err = TimeParam(q, "until"); err != nil {
		return since, until, err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return since, until, chorus.Invalid("until", "until must be after since")
	}
	return since, until, nil
}

// WriteList writes one page in a uniform envelope.
func WriteList[T any](w http.ResponseWriter, items []T, p chorus.Page, id func(T) int64) {
	out := struct {
		Object  string `json:"object"`
		Data    []T    `json:"data"`
		HasMore bool   `json:"has_more"`
		Next    *int64 `json:"next_after,omitempty"`
	}{Object: "list", Data: items}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(items) == p.Limit && len(items) > 0 {
		out.HasMore = true
		n := id(items[len(items)-1])
		out.Next = &n
	}
	WriteJSON(w, http.StatusOK, out)
}
