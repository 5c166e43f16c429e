package manage

// The cart API (see shop.go for the routes): one cart per user, with a
// version that grows with every change.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/shop"
)

type cartItemView struct {
	chorus.CartItem
	Credits       string `json:"credits"`
	AmountDisplay string `json:"amount_display"`
}

type cartView struct {
	Object string `json:"object"` // "cart"
	*chorus.Cart
	Items        []cartItemView `json:"items"`
	Credits      string         `json:"credits"`
	TotalDisplay string         `json:"total_display"`
}

func (s *Server) viewCart(c *chorus.Cart) cartView {
	c.Currency = s.shopCurrency()
	v := cartView{Object: "cart", Cart: c, Items: make([]cartItemView, len(c.Items)),
		Credits: chorus.FormatCredits(c.Credits), TotalDisplay: shop.FormatAmount(c.Total, c.Currency)}
	for i, it := range c.Items {
		v.Items[i] = cartItemView{CartItem: it, Credits: chorus.FormatCredits(it.Credits),
			AmountDisplay: shop.FormatAmount(it.Amount, c.Currency)}
	}
	return v
}

// productPathID parses the {product_id} path segment.
func productPathID(r *http.Request) (int64, error) {
	v := r.PathValue("product_id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, chorus.Invalid("product_id", "product_id must be a positive integer, got %q", v)
	}
	return id, nil
}

// versionOnly reads the version of a change whose optional body holds
// nothing but {"version": n} (or an If-Match header): clearing the cart,
// removing an item.
func versionOnly(w http.ResponseWriter, r *http.Request) (int64, error) {
	var body struct {
		Version *int64 `json:"version"`
	}
	if err := api.DecodeOptionalJSON(w, r, &body); err != nil {
		return 0, err
	}
	return cartVersion(r, body.Version)
}

// cartVersion returns the cart version the client last saw: the body's
// "version" or the If-Match header ("3" or 3); one is required, and they
// must agree.
func cartVersion(r *http.Request, body *int64) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	var hv *int64
	if h != "" {
		n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
		if err != nil || n < 0 {
			return 0, chorus.Invalid("If-Match", "If-Match must be the cart version (its ETag), such as \"3\", got %q", h)
		}
		hv = &n
	}
	switch {
	case body != nil && hv != nil && *body != *hv:
		return 0, chorus.Invalid("version", "version %d and If-Match %d differ", *body, *hv)
	case body != nil:
		if *body < 0 {
			return 0, chorus.Invalid("version", "version must be 0 or more, got %d", *body)
		}
		return *body, nil
	case hv != nil:
		return *hv, nil
	}
	return 0, chorus.Invalid("version", "The cart version you last saw is required: \"version\" in the body or the If-Match header (the cart's ETag).")
}

// writeCart answers with the cart and its version as ETag. A stale
// version's ECONFLICT is answered 409 with the error and the current cart,
// so the client can show what changed and retry.
func (s *Server) writeCart(w http.ResponseWriter, status int, c *chorus.Cart, err error) error {
	if err != nil && !(chorus.ErrorCode(err) == chorus.ECONFLICT && c != nil) {
		return err
	}
	w.Header().Set("ETag", `"`+strconv.FormatInt(c.Version, 10)+`"`)
	if err == nil {
		api.WriteJSON(w, status, s.viewCart(c))
		return nil
	}
	var e *chorus.Error
	errors.As(err, &e)
	var out cartConflict
	out.Error.Message, out.Error.Type, out.Error.Param, out.Error.Code = e.Message, "conflict_error", "version", "cart_version_conflict"
	out.Cart = s.viewCart(c)
	api.WriteJSON(w, http.StatusConflict, out)
	return nil
}

// cartConflict is the 409 of a stale cart version: the error, in the
// API's error shape, and the cart as it is now.
type cartConflict struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param"`
		Code    string `json:"code"`
	} `json:"error"`
	Cart cartView `json:"cart"`
}

func (s *Server) getCart(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	c, err := s.Store.Cart(r.Context(), user)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) addToCart(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	var body struct {
		ProductID int64  `json:"product_id"`
		Quantity  *int64 `json:"quantity"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.ProductID < 1 {
		return chorus.Invalid("product_id", "product_id must be a positive integer")
	}
	q := int64(1)
	if body.Quantity != nil {
		q = *body.Quantity
	}
	c, err := s.Store.AddToCart(r.Context(), user, body.ProductID, q)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) replaceCart(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	var body struct {
		Items   *[]chorus.CartLine `json:"items"`
		Version *int64             `json:"version"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Items == nil {
		return chorus.Invalid("items", "items is required: the cart's lines, [] to empty it")
	}
	v, err := cartVersion(r, body.Version)
	if err != nil {
		return err
	}
	for i, l := range *body.Items {
		if l.ProductID < 1 {
			return chorus.Invalid("items["+strconv.Itoa(i)+"].product_id", "product_id must be a positive integer")
		}
	}
	c, err := s.Store.ReplaceCart(r.Context(), user, *body.Items, v)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) clearCart(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	v, err := versionOnly(w, r)
	if err != nil {
		return err
	}
	c, err := s.Store.ReplaceCart(r.Context(), user, nil, v)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) getCartItem(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	id, err := productPathID(r)
	if err != nil {
		return err
	}
	c, err := s.Store.Cart(r.Context(), user)
	if err != nil {
		return err
	}
	view := s.viewCart(c)
	for _, it := range view.Items {
		if it.ProductID == id {
			w.Header().Set("ETag", `"`+strconv.FormatInt(c.Version, 10)+`"`)
			api.WriteJSON(w, http.StatusOK, struct {
				Object string `json:"object"` // "cart.item"
				cartItemView
				Version int64 `json:"version"`
			}{"cart.item", it, c.Version})
			return nil
		}
	}
	return chorus.Errorf(chorus.ENOTFOUND, "product %d is not in the cart", id)
}

func (s *Server) addCartItem(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	id, err := productPathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Quantity *int64 `json:"quantity"`
	}
	if err := api.DecodeOptionalJSON(w, r, &body); err != nil {
		return err
	}
	q := int64(1)
	if body.Quantity != nil {
		q = *body.Quantity
	}
	c, err := s.Store.AddToCart(r.Context(), user, id, q)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) setCartItem(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	id, err := productPathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Quantity *int64 `json:"quantity"`
		Version  *int64 `json:"version"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Quantity == nil {
		return chorus.Invalid("quantity", "quantity is required (1 to %d); remove a line with DELETE", chorus.MaxCartQuantity)
	}
	v, err := cartVersion(r, body.Version)
	if err != nil {
		return err
	}
	c, err := s.Store.SetCartItem(r.Context(), user, id, *body.Quantity, v)
	return s.writeCart(w, http.StatusOK, c, err)
}

func (s *Server) removeCartItem(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	user := p.User.ID
	id, err := productPathID(r)
	if err != nil {
		return err
	}
	v, err := versionOnly(w, r)
	if err != nil {
		return err
	}
	c, err := s.Store.RemoveCartItem(r.Context(), user, id, v)
	return s.writeCart(w, http.StatusOK, c, err)
}
