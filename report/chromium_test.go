package report

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coapaudit/coapaudit/internal/testenv"
)

var updateScreenshot = flag.Bool("screenshot", false, "write docs/report.png from the Chromium rendering")

// chromium runs headless Chromium on file with extra arguments and
// returns its standard output.
func chromium(t *testing.T, bin, profile string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestChromiumRendersReport renders the evil-proxy report in headless
// Chromium, offline, and checks the screenshot and the rendered DOM.
func TestChromiumRendersReport(t *testing.T) {
	bin := testenv.Tool(t, "chromium")
	html, _ := evilProxyReport(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	shot := filepath.Join(dir, "shot.png")
	chromium(t, bin, filepath.Join(dir, "profile1"), "--screenshot="+shot, "--window-size=1280,2400", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot is %v, want 1280x2400", b.Size())
	}
	colours := map[[4]uint32]bool{}
	nonWhite := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, a >> 8}] = true
			if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
				nonWhite++
			}
		}
	}
	// Text, severity colours and plots give hundreds of colours after
	// anti-aliasing; a blank or error page gives a handful.
	if len(colours) < 64 {
		t.Errorf("screenshot has %d distinct colours: blank page?", len(colours))
	}
	if share := float64(nonWhite) / float64(b.Dx()*b.Dy()/4); share < 0.03 {
		t.Errorf("only %.1f%% of the screenshot is not white", 100*share)
	}

	dom := string(chromium(t, bin, filepath.Join(dir, "profile2"), "--dump-dom", url))
	for _, h := range []string{"Verdict", "Findings by severity", "Proxy topology", "Message sequence charts of high findings",
		"Message sizes per resource", "Proxy residence times", "Leak metrics", "Padding advice"} {
		if !strings.Contains(dom, "<h2>"+h+"</h2>") {
			t.Errorf("rendered DOM lacks heading %q", h)
		}
	}
	if n := strings.Count(dom, "<svg"); n < 4 {
		t.Errorf("rendered DOM has %d <svg> elements, want at least 4", n)
	}
	for _, id := range sectionIDs {
		if !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("rendered DOM lacks id %q", id)
		}
	}

	if *updateScreenshot {
		crop := image.NewNRGBA(image.Rect(0, 0, 1280, min(1600, b.Dy())))
		draw.Draw(crop, crop.Bounds(), img, b.Min, draw.Src)
		var out bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(&out, crop); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(testenv.RepoRoot(), "docs", "report.png")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", dst, out.Len())
	}
}
