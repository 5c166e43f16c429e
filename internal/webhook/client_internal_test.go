package webhook

import (
	"net"
	"testing"
)

func TestPublicIP(t *testing.T) {
	for _, tt := range []struct {
		name string
		ip   string
		want bool
	}{
		{"PublicV4", "93.184.216.34", true},
		{"PublicV6", "2606:2800:220:1:248:1893:25c8:1946", true},
		{"ErrLoopbackV4", "127.0.0.1", false},
		{"ErrLoopbackV6", "::1", false},
		{"ErrPrivate10", "10.1.2.3", false},
		{"ErrPrivate172", "172.16.0.1", false},
		{"ErrPrivate192", "192.168.1.1", false},
		{"ErrPrivateV6", "fd00::1", false},
		{"ErrLinkLocalV4", "169.254.169.254", false},
		{"ErrLinkLocalV6", "fe80::1", false},
		{"ErrUnspecified", "0.0.0.0", false},
		{"ErrCarrierNAT", "100.64.0.1", false},
		{"CarrierNATEdge", "100.128.0.1", true},
		{"ErrMulticast", "224.0.0.1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := publicIP(net.ParseIP(tt.ip)); got != tt.want {
				t.Errorf("publicIP(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}
