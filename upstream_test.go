package chorus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

// deployment returns a valid OpenAI deployment changed by edit.
func deployment(edit func(d *chorus.Deployment)) *chorus.Deployment {
	d := &chorus.Deployment{ModelID: 1, Name: "d", Provider: chorus.ProviderOpenAI, UpstreamModel: "m",
		BaseURL: "https://api.example.com/v1"}
	edit(d)
	return d
}

// wantParam fails unless err is EINVALID naming param, with want in its
// message ("" for no error).
func wantParam(t *testing.T, err error, param, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	var ce *chorus.Error
	if !errors.As(err, &ce) || ce.Code != chorus.EINVALID || ce.Param != param || !strings.Contains(ce.Message, want) {
		t.Fatalf("err = %#v, want EINVALID on %s containing %q", err, param, want)
	}
}

func TestDeploymentBaseURL(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  string
		want string
	}{
		{"OK", "https://api.openai.com/v1", ""},
		{"Empty", "", ""},
		{"PrivateLeftToCheckNetwork", "http://10.0.0.5:8000/v1", ""},
		{"ErrScheme", "ftp://example.com", "http:// or https://"},
		{"ErrRelative", "not a url", "http:// or https://"},
		{"ErrNoHost", "http://", "must name a host"},
		{"ErrUserInfo", "https://user:pass@api.openai.com/v1", "user information"},
		{"ErrHostAtHost", "https://api.openai.com@evil.example/v1", "user information"},
		{"ErrMetadata", "http://169.254.169.254/latest/meta-data", "never connects"},
		{"ErrMetadataDecimal", "http://2852039166/", "never connects"},
		{"ErrMetadataHex", "http://0xa9fea9fe/", "never connects"},
		{"ErrMetadataOctal", "http://0251.0376.0251.0376/", "never connects"},
		{"ErrMetadataShort", "http://169.254.43518/", "never connects"},
		{"ErrMetadataMapped", "http://[::ffff:169.254.169.254]/", "never connects"},
		{"ErrMetadataMappedHex", "http://[::ffff:a9fe:a9fe]/", "never connects"},
		{"ErrMetadataAWSV6", "http://[fd00:ec2::254]/", "never connects"},
		{"ErrMetadataGCP", "http://metadata.google.internal/computeMetadata/v1/", "metadata service"},
		{"ErrLinkLocalV6", "http://[fe80::1]/", "never connects"},
		{"ErrUnspecified", "http://0.0.0.0:11434/v1", "never connects"},
		{"ErrMulticast", "http://239.1.2.3/", "never connects"},
		{"ErrBroadcast", "http://255.255.255.255/", "never connects"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(func(d *chorus.Deployment) { d.BaseURL = tt.url })
			wantParam(t, d.Validate(), "base_url", tt.want)
		})
	}
}

func TestDeploymentCheckNetwork(t *testing.T) {
	optIn := map[string]any{chorus.SettingAllowPrivateNetwork: true}
	for _, tt := range []struct {
		name     string
		url      string
		settings map[string]any
		allowAll bool
		want     string
	}{
		{"Public", "https://api.openai.com/v1", nil, false, ""},
		{"NameLeftToDial", "http://vllm.internal.example/v1", nil, false, ""},
		{"ErrLoopback", "http://127.0.0.1:11434/v1", nil, false, "settings.allow_private_network"},
		{"ErrLocalhost", "http://localhost:11434/v1", nil, false, "upstreams.allow_private_networks"},
		{"ErrPrivate", "http://192.168.1.20:8000/v1", nil, false, "private"},
		{"ErrPrivateV6", "http://[fd12::1]:8000/v1", nil, false, "private"},
		{"ErrCarrierNAT", "http://100.64.0.1/v1", nil, false, "private"},
		{"LoopbackOptIn", "http://127.0.0.1:11434/v1", optIn, false, ""},
		{"PrivateAllowAll", "http://10.0.0.5:8000/v1", nil, true, ""},
		{"ErrMetadataDespiteOptIn", "http://169.254.169.254/", optIn, true, "never connects"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(func(d *chorus.Deployment) { d.BaseURL, d.Settings = tt.url, tt.settings })
			wantParam(t, d.CheckNetwork(tt.allowAll), "base_url", tt.want)
		})
	}
	t.Run("ErrSettingNotBool", func(t *testing.T) {
		d := deployment(func(d *chorus.Deployment) { d.Settings = map[string]any{chorus.SettingAllowPrivateNetwork: "yes"} })
		wantParam(t, d.Validate(), "settings", "true or false")
	})
}

func TestDeploymentHeaders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"OK", map[string]string{"OpenAI-Organization": "org-1", "X_Team": "a\tb"}, ""},
		{"OKAnthropicBeta", map[string]string{"anthropic-beta": "context-1m-2025-08-07"}, ""},
		{"ErrNameSpace", map[string]string{"bad header": "x"}, "not a valid HTTP header name"},
		{"ErrNameColon", map[string]string{"X-A:": "x"}, "not a valid HTTP header name"},
		{"ErrNameEmpty", map[string]string{"": "x"}, "not a valid HTTP header name"},
		{"ErrValueCRLF", map[string]string{"X-Team": "a\r\nX-Injected: 1"}, "control characters"},
		{"ErrValueLF", map[string]string{"X-Team": "a\nb"}, "control characters"},
		{"ErrValueNUL", map[string]string{"X-Team": "a\x00b"}, "control characters"},
		{"ErrValueDEL", map[string]string{"X-Team": "a\x7fb"}, "control characters"},
		{"ErrValueLong", map[string]string{"X-Team": strings.Repeat("a", 8193)}, "at most 8192"},
		{"ErrHost", map[string]string{"Host": "evil.example"}, "base_url"},
		{"ErrContentLength", map[string]string{"content-length": "0"}, "HTTP client"},
		{"ErrTransferEncoding", map[string]string{"Transfer-Encoding": "chunked"}, "HTTP client"},
		{"ErrConnection", map[string]string{"Connection": "close"}, "hop-by-hop"},
		{"ErrAuthorization", map[string]string{"Authorization": "Bearer sk-x"}, "credential"},
		{"ErrXAPIKey", map[string]string{"X-Api-Key": "sk-ant-x"}, "credential"},
		{"ErrAzureKey", map[string]string{"api-key": "x"}, "credential"},
		{"ErrGoogKey", map[string]string{"X-Goog-Api-Key": "x"}, "credential"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(func(d *chorus.Deployment) { d.Headers = tt.headers })
			wantParam(t, d.Validate(), "headers", tt.want)
		})
	}
	t.Run("ErrTooMany", func(t *testing.T) {
		h := map[string]string{}
		for i := range 65 {
			h["X-H"+strings.Repeat("a", i)] = "v"
		}
		wantParam(t, deployment(func(d *chorus.Deployment) { d.Headers = h }).Validate(), "headers", "at most 64")
	})
}
