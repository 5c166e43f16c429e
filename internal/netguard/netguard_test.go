package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/netguard"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name string
		ip   string
		want netguard.Class
	}{
		{"PublicV4", "93.184.216.34", netguard.Public},
		{"PublicV6", "2606:2800:220:1:248:1893:25c8:1946", netguard.Public},
		{"CarrierNATEdge", "100.128.0.1", netguard.Public},
		{"LoopbackV4", "127.0.0.1", netguard.Private},
		{"LoopbackV4Other", "127.8.9.10", netguard.Private},
		{"LoopbackV6", "::1", netguard.Private},
		{"Private10", "10.1.2.3", netguard.Private},
		{"Private172", "172.16.0.1", netguard.Private},
		{"Private192", "192.168.1.1", netguard.Private},
		{"UniqueLocal", "fd12:3456::1", netguard.Private},
		{"CarrierNAT", "100.64.0.1", netguard.Private},
		{"MappedPrivate", "::ffff:10.0.0.1", netguard.Private},
		{"MetadataV4", "169.254.169.254", netguard.Forbidden},
		{"LinkLocalV4", "169.254.1.1", netguard.Forbidden},
		{"LinkLocalV6", "fe80::1", netguard.Forbidden},
		{"LinkLocalV6Zone", "fe80::1%eth0", netguard.Forbidden},
		{"MetadataAWSV6", "fd00:ec2::254", netguard.Forbidden},
		{"MetadataAlibaba", "100.100.100.200", netguard.Forbidden},
		{"MappedMetadata", "::ffff:169.254.169.254", netguard.Forbidden},
		{"MappedMetadataHex", "::ffff:a9fe:a9fe", netguard.Forbidden},
		{"NAT64Metadata", "64:ff9b::a9fe:a9fe", netguard.Forbidden},
		{"NAT64Public", "64:ff9b::5db8:d822", netguard.Public},
		{"CompatibleV4", "::a9fe:a9fe", netguard.Forbidden},
		{"UnspecifiedV4", "0.0.0.0", netguard.Forbidden},
		{"ThisNetwork", "0.1.2.3", netguard.Forbidden},
		{"UnspecifiedV6", "::", netguard.Forbidden},
		{"MulticastV4", "224.0.0.1", netguard.Forbidden},
		{"MulticastV6", "ff02::1", netguard.Forbidden},
		{"Broadcast", "255.255.255.255", netguard.Forbidden},
		{"Reserved", "240.0.0.1", netguard.Forbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := netguard.Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Classify(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	for _, tt := range []struct {
		name string
		host string
		want string // "" when host is a name
	}{
		{"Dotted", "169.254.169.254", "169.254.169.254"},
		{"Decimal", "2852039166", "169.254.169.254"},
		{"Hex", "0xa9fea9fe", "169.254.169.254"},
		{"HexUpper", "0XA9FEA9FE", "169.254.169.254"},
		{"Octal", "0251.0376.0251.0376", "169.254.169.254"},
		{"ShortTwo", "169.254.43518", "169.254.169.254"},
		{"ShortOne", "169.16689662", "169.254.169.254"},
		{"MixedParts", "0xa9.254.0251.0xfe", "169.254.169.254"},
		{"LoopbackShort", "127.1", "127.0.0.1"},
		{"ZeroPadded", "127.000.000.001", "127.0.0.1"},
		{"TrailingDot", "169.254.169.254.", "169.254.169.254"},
		{"SmallNumber", "123", "0.0.0.123"},
		{"V6", "::ffff:a9fe:a9fe", "::ffff:169.254.169.254"},
		{"V6Zone", "fe80::1%eth0", "fe80::1%eth0"},
		{"NameDigitsTooBig", "4294967296", ""},
		{"NamePartTooBig", "256.1.1.1", ""},
		{"NameLastTooBig", "1.2.65536", ""},
		{"NameTooManyParts", "1.2.3.4.5", ""},
		{"NameBadOctal", "08.1.1.1", ""},
		{"NameEmptyPart", "1..2", ""},
		{"NameSign", "+1.2.3.4", ""},
		{"Name", "api.openai.com", ""},
		{"NameHexLike", "cafe.example", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ip, ok := netguard.ParseHost(tt.host)
			if got := map[bool]string{true: ip.String(), false: ""}[ok]; got != tt.want {
				t.Errorf("ParseHost(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
			}
		})
	}
}

func TestPolicyCheckURL(t *testing.T) {
	strict := netguard.Policy{Setting: "x.allow"}
	open := netguard.Policy{AllowPrivate: true, Setting: "x.allow"}
	for _, tt := range []struct {
		name   string
		url    string
		strict string // want a message containing this; "" means allowed
		open   string
	}{
		{"OK", "https://api.openai.com/v1", "", ""},
		{"OKPort", "http://vllm.internal.example:8000/v1", "", ""},
		{"ErrScheme", "ftp://example.com", "http:// or https://", "http:// or https://"},
		{"ErrFile", "file:///etc/passwd", "http:// or https://", "http:// or https://"},
		{"ErrNoHost", "http:///v1", "must name a host", "must name a host"},
		{"ErrUserPass", "https://user:pass@api.openai.com/v1", "user information", "user information"},
		{"ErrHostAtHost", "https://api.openai.com@169.254.169.254/", "user information", "user information"},
		{"ErrMetadata", "http://169.254.169.254/latest", "never connects", "never connects"},
		{"ErrMetadataDecimal", "http://2852039166/", "never connects", "never connects"},
		{"ErrMetadataHex", "http://0xa9fea9fe/", "never connects", "never connects"},
		{"ErrMetadataOctal", "http://0251.0376.0251.0376/", "never connects", "never connects"},
		{"ErrMetadataShort", "http://169.254.43518/", "never connects", "never connects"},
		{"ErrMetadataMapped", "http://[::ffff:169.254.169.254]/", "never connects", "never connects"},
		{"ErrMetadataMappedHex", "http://[::ffff:a9fe:a9fe]/", "never connects", "never connects"},
		{"ErrMetadataAWSV6", "http://[fd00:ec2::254]/", "never connects", "never connects"},
		{"ErrMetadataGCP", "http://metadata.google.internal/computeMetadata/v1", "metadata service", "metadata service"},
		{"ErrMetadataGCPCase", "http://Metadata.Google.Internal./", "metadata service", "metadata service"},
		{"ErrEscapedHost", "http://%31%36%39.254.169.254/", "not a valid URL", "not a valid URL"},
		{"ErrLinkLocalV6", "http://[fe80::1%25eth0]:8080/", "never connects", "never connects"},
		{"ErrUnspecified", "http://0.0.0.0:11434", "never connects", "never connects"},
		{"ErrUnspecifiedV6", "http://[::]:11434", "never connects", "never connects"},
		{"ErrBroadcast", "http://255.255.255.255", "never connects", "never connects"},
		{"ErrMulticast", "http://224.0.0.251", "never connects", "never connects"},
		{"Loopback", "http://127.0.0.1:11434", "x.allow", ""},
		{"LoopbackShort", "http://127.1:11434", "x.allow", ""},
		{"LoopbackV6", "http://[::1]:8000/v1", "x.allow", ""},
		{"Localhost", "http://localhost:11434/v1", "x.allow", ""},
		{"LocalhostSub", "http://ollama.localhost/v1", "x.allow", ""},
		{"Private", "http://10.0.0.5:8000/v1", "x.allow", ""},
		{"CarrierNAT", "http://100.64.1.1/v1", "x.allow", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				p    netguard.Policy
				want string
			}{{strict, tt.strict}, {open, tt.open}} {
				err := c.p.CheckURL(tt.url)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("AllowPrivate=%v: CheckURL(%q) = %v, want nil", c.p.AllowPrivate, tt.url, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
					t.Errorf("AllowPrivate=%v: CheckURL(%q) = %v, want an error containing %q", c.p.AllowPrivate, tt.url, err, c.want)
				}
			}
		})
	}
}

// TestControl dials through the guard: a name that resolves to loopback
// (DNS rebinding's end state) is refused after resolution unless private
// networks are allowed.
func TestControl(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tt := range []struct {
		name   string
		policy netguard.Policy
		addr   string
		ok     bool
	}{
		{"ErrLoopbackByName", netguard.Policy{Setting: "x.allow"}, "localhost:" + port, false},
		{"ErrLoopbackByIP", netguard.Policy{}, "127.0.0.1:" + port, false},
		{"LoopbackAllowed", netguard.Policy{AllowPrivate: true}, "localhost:" + port, true},
		{"ErrMetadataEvenAllowed", netguard.Policy{AllowPrivate: true}, "169.254.169.254:80", false},
		{"ErrUnspecifiedEvenAllowed", netguard.Policy{AllowPrivate: true}, "0.0.0.0:" + port, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := tt.policy.Dialer(time.Second).DialContext(ctx, "tcp", tt.addr)
			if c != nil {
				c.Close()
			}
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, netguard.ErrRefused)) {
				t.Fatalf("dial %s: %v; want ok=%v (or ErrRefused)", tt.addr, err, tt.ok)
			}
		})
	}
}
