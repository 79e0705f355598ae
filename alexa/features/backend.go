package features

import (
	"context"
	"errors"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
)

// Backend returns c as a backend of an alexa.Directory: its endpoints are
// the devices, and its errors become *alexa.CallError values that say
// what failed the way rules see it.
func Backend(c *Client) alexa.Backend { return backend{c} }

type backend struct{ c *Client }

func (b backend) Devices(ctx context.Context) ([]alexa.Device, error) {
	eps, err := b.c.Endpoints(ctx)
	if err != nil {
		return nil, describe(err)
	}
	devices := make([]alexa.Device, len(eps))
	for i, e := range eps {
		devices[i] = alexa.Device{ID: e.ID, FriendlyName: e.FriendlyName}
	}
	return devices, nil
}

func (b backend) Update(ctx context.Context, id, operation string, args ...float64) error {
	return describe(b.c.Update(ctx, id, operation, args...))
}

func (b backend) Get(ctx context.Context, id, attr string) (any, error) {
	v, err := b.c.Get(ctx, id, attr)
	if err != nil {
		return nil, describe(err)
	}
	return v, nil
}

// describe classifies a client error for rules: the Error object of an
// error answer, a property that failed in a 200 answer, a refused login,
// an answer the client could not use, an argument it refused.
func describe(err error) error {
	if err == nil {
		return nil
	}
	ce := alexa.NewCallError(err)
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		ce.Type, ce.Status, ce.Message = apiErr.Failure()
		return ce
	}
	if pe, ok := errors.AsType[*PropertyError](err); ok {
		// A property that came back as ERROR or NOT_RETRIEVABLE in a 200 answer.
		ce.Type, ce.Message = pe.ErrorType, pe.Message
		if ce.Type == "" {
			ce.Type = pe.Type
		}
		if ce.Message == "" {
			ce.Message = pe.Error()
		}
		return ce
	}
	if ae, ok := errors.AsType[*auth.AuthError](err); ok {
		ce.Type, ce.Status = "LOGIN_FAILED", ae.Status
		return ce
	}
	if ce.Type == "NETWORK_ERROR" { // not a context's end
		if _, ok := errors.AsType[*DecodeError](err); ok {
			ce.Type = "INVALID_RESPONSE"
		} else if _, ok := errors.AsType[*ValidationError](err); ok {
			ce.Type = "INVALID_VALUE"
		}
	}
	return ce
}
