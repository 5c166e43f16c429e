package app

import (
	"fmt"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/chorusgw/chorus"
)

// initSentry forwards the consoles' error reports to Sentry (or a
// Sentry-compatible service) when sentry.dsn is set. Reports reach it as
// they are stored: scrubbed of secrets, with the console's release, route
// and the failed call's request ID as tags. The SDK sends in the
// background; Shutdown flushes what is queued.
func (a *App) initSentry() error {
	cfg := a.Config.Sentry
	if cfg.DSN == "" {
		return nil
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn: cfg.DSN, Environment: cfg.Environment, ServerName: "chorus",
		// No integrations: only the reports handed to it, nothing of the process.
		Integrations: func([]sentry.Integration) []sentry.Integration { return nil },
	})
	if err != nil {
		return fmt.Errorf("sentry: %w", err)
	}
	a.Manage.ForwardClientError = func(e *chorus.ClientError) {
		ev := sentry.NewEvent()
		ev.Level = sentry.LevelError
		ev.Platform = "javascript"
		ev.Logger = "console"
		ev.Message = e.Message
		ev.Release = e.Release
		ev.Tags = map[string]string{"route": e.Route, "request_id": e.RequestID, "source": "chorus-console"}
		ev.Contexts = map[string]sentry.Context{"console": {"stack": e.Stack, "user_agent": e.UserAgent}}
		if e.UserID != 0 {
			ev.User = sentry.User{ID: fmt.Sprint(e.UserID)}
		}
		client.CaptureEvent(ev, nil, nil)
	}
	a.closers = append(a.closers, func() { client.Flush(2 * time.Second) })
	return nil
}
