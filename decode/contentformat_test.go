package decode

import "testing"

func TestContentFormatName(t *testing.T) {
	for i := 1; i < len(contentFormats); i++ {
		if contentFormats[i-1].id >= contentFormats[i].id {
			t.Errorf("content formats not sorted at %d (%d)", contentFormats[i].id, i)
		}
		if contentFormats[i].name == "" {
			t.Errorf("content format %d has no name", contentFormats[i].id)
		}
	}
	tests := []struct {
		n    uint32
		want string
	}{
		{ContentFormatTextPlain, "text/plain; charset=utf-8"},
		{ContentFormatCOSEEncrypt0, `application/cose; cose-type="cose-encrypt0"`},
		{ContentFormatLinkFormat, "application/link-format"},
		{ContentFormatXML, "application/xml"},
		{ContentFormatOctetStream, "application/octet-stream"},
		{47, "application/exi"},
		{ContentFormatJSON, "application/json"},
		{51, "application/json-patch+json"},
		{52, "application/merge-patch+json"},
		{ContentFormatCBOR, "application/cbor"},
		{61, "application/cwt"},
		{62, "application/multipart-core"},
		{63, "application/cbor-seq"},
		{96, `application/cose; cose-type="cose-encrypt"`},
		{ContentFormatSenMLJSON, "application/senml+json"},
		{111, "application/sensml+json"},
		{ContentFormatSenMLCBOR, "application/senml+cbor"},
		{113, "application/sensml+cbor"},
		{310, "application/senml+xml"},
		{311, "application/sensml+xml"},
		{320, "application/senml-etch+json"},
		{322, "application/senml-etch+cbor"},
		{ContentFormatOSCORE, "application/oscore"},
		{ContentFormatLwM2MTLV, "application/vnd.oma.lwm2m+tlv"},
		{ContentFormatLwM2MJSON, "application/vnd.oma.lwm2m+json"},
		{ContentFormatLwM2MCBOR, "application/vnd.oma.lwm2m+cbor"},
		{11050, "application/json (deflate)"},
		{30000, "image/svg+xml"},
		{1, ""},
		{1542, ""}, // reserved
		{65000, ""},
		{0x10000 + 50, ""},
	}
	for _, tt := range tests {
		if got := ContentFormatName(tt.n); got != tt.want {
			t.Errorf("ContentFormatName(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
