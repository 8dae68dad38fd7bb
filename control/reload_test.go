package control

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// reloadBackend answers Reload with what it is given.
type reloadBackend struct {
	fakeBackend
	res ReloadResult
	err error
}

func (r *reloadBackend) Reload() (ReloadResult, error) { return r.res, r.err }

// TestReload: a reload's result comes back as sent; a refused file is a
// 400 whose message is the backend's, FILE:LINE lines and all; a backend
// that cannot reload answers 501.
func TestReload(t *testing.T) {
	ctx := context.Background()
	rb := &reloadBackend{res: ReloadResult{Added: []string{"vm3"}, Removed: []string{"vm2"}, Changed: []string{"vm1"}}}
	_, c, _ := serve(t, rb)
	res, err := c.Reload(ctx)
	if err != nil || !slices.Equal(res.Added, []string{"vm3"}) || !slices.Equal(res.Removed, []string{"vm2"}) || !slices.Equal(res.Changed, []string{"vm1"}) {
		t.Fatalf("reload: %+v %v", res, err)
	}

	msg := "v.yaml:4: ports[0].vlna: unknown key \"vlna\"\nv.yaml:9: networks[0].mode: bad"
	rb.err = &BadRequestError{Err: errors.New(msg)}
	_, err = c.Reload(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Message != msg {
		t.Fatalf("refused reload: %v, want 400 %q", err, msg)
	}

	_, c2, _ := serve(t, &fakeBackend{})
	if _, err := c2.Reload(ctx); !errors.As(err, &ae) || ae.Status != 501 {
		t.Fatalf("backend without reload: %v, want 501", err)
	}
}
