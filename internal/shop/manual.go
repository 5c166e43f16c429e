package shop

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/text/currency"

	"github.com/chorusgw/chorus"
)

// Manual takes payments outside Chorus (a bank transfer, an invoice): the
// order waits, pending, with instructions for the customer until an admin
// marks it paid (Service.MarkPaid). It has no webhooks, and its refunds
// are made outside Chorus too.
type Manual struct {
	instructions string
}

var _ Provider = (*Manual)(nil)

// NewManual returns the manual provider. In instructions, {order_id},
// {amount} and {currency} are replaced with the order's.
func NewManual(instructions string) *Manual { return &Manual{instructions: instructions} }

// Name implements Provider.
func (m *Manual) Name() string { return chorus.ProviderManual }

// Start implements Provider: the instructions, filled in.
func (m *Manual) Start(_ context.Context, o *chorus.Order) (Start, error) {
	r := strings.NewReplacer(
		"{order_id}", strconv.FormatInt(o.ID, 10),
		"{amount}", FormatAmount(o.Total, o.Currency),
		"{currency}", strings.ToUpper(o.Currency),
	)
	return Start{Instructions: r.Replace(m.instructions)}, nil
}

// ParseWebhook implements Provider: manual payments have no notifications.
func (m *Manual) ParseWebhook([]byte, http.Header) (*Event, error) {
	return nil, chorus.Errorf(chorus.ENOTSUPPORTED, "Manual payments have no webhooks.")
}

// Refund implements Provider: the money is returned outside Chorus, so
// there is nothing to call.
func (m *Manual) Refund(context.Context, *chorus.Order) (string, error) { return "", nil }

// FormatAmount writes an amount in minor units as a decimal in the
// currency's usual precision: 1999 usd is "19.99", 1999 jpy is "1999".
func FormatAmount(minor int64, cur string) string {
	scale := 2
	if u, err := currency.ParseISO(cur); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
	neg := minor < 0
	u := uint64(minor) // #nosec G115 -- two's complement: negated below, exact for MinInt64 too
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
