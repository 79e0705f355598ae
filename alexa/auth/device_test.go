package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
)

func TestNewDevice(t *testing.T) {
	d, err := auth.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(d.Serial) != 32 || strings.ToUpper(d.Serial) != d.Serial {
		t.Errorf("serial %q: want 32 upper-case hex digits", d.Serial)
	}
	frc, err := base64.RawStdEncoding.DecodeString(d.FRC)
	if err != nil || len(frc) != 313 || strings.Contains(d.FRC, "=") {
		t.Errorf("frc: %d bytes, err %v, want base64 of 313 bytes without '='", len(frc), err)
	}
	md, err := base64.StdEncoding.DecodeString(d.MapMD)
	var mapMD struct {
		App struct {
			BundleID string `json:"bundle_id"`
		} `json:"app_identifier"`
	}
	if err != nil || json.Unmarshal(md, &mapMD) != nil || mapMD.App.BundleID != "com.amazon.echo" {
		t.Errorf("map-md %q is not the app's JSON", md)
	}
	id, err := hex.DecodeString(d.ID())
	if err != nil || string(id) != d.Serial+"#A2IVLV5VM2W81" || d.ID() != strings.ToLower(d.ID()) {
		t.Errorf("ID %q: want lower-case hex of serial#A2IVLV5VM2W81", d.ID())
	}
	other, _ := auth.NewDevice()
	if other.Serial == d.Serial || other.FRC == d.FRC {
		t.Error("two devices share a serial or frc")
	}
	if s := d.String(); strings.Contains(s, d.FRC) {
		t.Errorf("String %q shows the frc", s)
	}
	for _, bad := range []auth.Device{{Serial: strings.ToLower(d.Serial), FRC: "x", MapMD: "y"}, {Serial: "XYZ", FRC: "x", MapMD: "y"}, {Serial: d.Serial}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}

func TestNewPKCE(t *testing.T) {
	p, err := auth.NewPKCE()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(p.Verifier))
	if len(p.Verifier) != 43 || p.Challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("verifier %d chars, challenge %q: want 43 and S256", len(p.Verifier), p.Challenge)
	}
	if q, _ := auth.NewPKCE(); q.Verifier == p.Verifier {
		t.Error("two verifiers are equal")
	}
}

func TestSignInURL(t *testing.T) {
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	tests := []struct {
		region, cloud, base, handle, ns string
	}{
		{"DE", "", "https://www.amazon.com", "amzn_dp_project_dee_ios", "http://www.amazon.com/ap/ext/oauth/2"},
		{"JP", "", "https://www.amazon.co.jp", "amzn_dp_project_dee_ios_jp", "http://www.amazon.co.jp/ap/ext/oauth/2"},
		{"US", "http://127.0.0.1:9000", "http://127.0.0.1:9000", "amzn_dp_project_dee_ios", "http://127.0.0.1:9000/ap/ext/oauth/2"},
	}
	for _, tt := range tests {
		h, err := alexa.HostsFor(tt.region, tt.cloud)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(auth.SignInURL(h, d, p))
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Scheme + "://" + u.Host + u.Path; got != tt.base+"/ap/signin" {
			t.Errorf("%s: URL %s, want %s/ap/signin", tt.region, got, tt.base)
		}
		q := u.Query()
		want := map[string]string{
			"openid.return_to":                 tt.base + "/ap/maplanding",
			"openid.assoc_handle":              tt.handle,
			"pageId":                           tt.handle,
			"openid.ns.oa2":                    tt.ns,
			"openid.oa2.client_id":             "device:" + d.ID(),
			"openid.oa2.response_type":         "code",
			"openid.oa2.scope":                 "device_auth_access",
			"openid.oa2.code_challenge_method": "S256",
			"openid.oa2.code_challenge":        p.Challenge,
			"openid.mode":                      "checkid_setup",
			"openid.ns":                        "http://specs.openid.net/auth/2.0",
			"openid.claimed_id":                "http://specs.openid.net/auth/2.0/identifier_select",
			"openid.identity":                  "http://specs.openid.net/auth/2.0/identifier_select",
			"openid.pape.max_auth_age":         "0",
			"language":                         "en_US",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tt.region, k, q.Get(k), v)
			}
		}
		if strings.Contains(u.String(), p.Verifier) {
			t.Errorf("%s: the URL carries the verifier", tt.region)
		}
	}
}

func TestCodeFromURL(t *testing.T) {
	tests := []struct {
		in, code, err string
	}{
		{"https://www.amazon.com/ap/maplanding?openid.assoc_handle=amzn_dp_project_dee_ios&openid.oa2.authorization_code=ANWHbbUJToeNlkgZndtWwWgI&openid.claimed_id=x",
			"ANWHbbUJToeNlkgZndtWwWgI", ""},
		{"  http://127.0.0.1:8080/www.amazon.com/ap/maplanding?openid.oa2.authorization_code=ANcode \n", "ANcode", ""},
		{"https://www.amazon.com/ap/maplanding?openid.assoc_handle=x", "", "no openid.oa2.authorization_code"},
		{"https://www.amazon.com/ap/maplanding?openid.oa2.access_token=Atna%7Csecret", "", "access token instead"},
		{"https://www.amazon.com/ap/signin?openid.oa2.authorization_code=ANsecret", "", "not a /ap/maplanding URL"},
		{"Atnr|secret-token", "", "not a /ap/maplanding URL"},
		{"%zz", "", "not a URL"},
	}
	for _, tt := range tests {
		code, err := auth.CodeFromURL(tt.in)
		if tt.err == "" {
			if err != nil || code != tt.code {
				t.Errorf("CodeFromURL(%q) = %q, %v; want %q", tt.in, code, err, tt.code)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CodeFromURL(%q) error %v, want one containing %q", tt.in, err, tt.err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("CodeFromURL(%q) error %q quotes the input", tt.in, err)
		}
	}
}

func TestParseDeviceKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs1 := x509.MarshalPKCS1PrivateKey(key)
	b64 := base64.StdEncoding.EncodeToString(pkcs8)
	for name, in := range map[string]string{
		"amazon's base64 PKCS#8": b64,
		"wrapped lines":          b64[:64] + "\n" + b64[64:],
		"PEM PKCS#8":             string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		"base64 PKCS#1":          base64.StdEncoding.EncodeToString(pkcs1),
	} {
		got, err := auth.ParseDeviceKey(in)
		if err != nil || !got.Equal(key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("secret-bytes"))} {
		if _, err := auth.ParseDeviceKey(bad); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseDeviceKey(%q) err = %v", bad, err)
		}
	}
}
