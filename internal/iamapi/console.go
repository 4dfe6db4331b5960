package iamapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

// The operations of console sign-in: users' login profiles (console passwords), the account's password
// policy and its alias.

type loginProfileXML struct {
	UserName              string `xml:"UserName"`
	CreateDate            string `xml:"CreateDate"`
	PasswordResetRequired bool   `xml:"PasswordResetRequired"`
}

type passwordPolicyXML struct {
	MinimumPasswordLength      int  `xml:"MinimumPasswordLength"`
	RequireSymbols             bool `xml:"RequireSymbols"`
	RequireNumbers             bool `xml:"RequireNumbers"`
	RequireUppercaseCharacters bool `xml:"RequireUppercaseCharacters"`
	RequireLowercaseCharacters bool `xml:"RequireLowercaseCharacters"`
	AllowUsersToChangePassword bool `xml:"AllowUsersToChangePassword"`
	ExpirePasswords            bool `xml:"ExpirePasswords"`
	MaxPasswordAge             int  `xml:"MaxPasswordAge,omitempty"`
	PasswordReusePrevention    int  `xml:"PasswordReusePrevention,omitempty"`
	HardExpiry                 bool `xml:"HardExpiry"`
}

// boolParam reads an optional boolean parameter: nil when absent.
func boolParam(q url.Values, name string) (*bool, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, validation("1 validation error detected: Value '" + v + "' at '" + lowerFirst(name) + "' failed to satisfy constraint: Member must be a boolean")
	}
	return &b, nil
}

// intParam reads an optional integer parameter: 0 when absent.
func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, validation("1 validation error detected: Value '" + v + "' at '" + lowerFirst(name) + "' failed to satisfy constraint: Member must be an integer")
	}
	return n, nil
}

// ownUser resolves the calling IAM user's own ARN (ChangePassword): other callers have no password.
func ownUser(c *pipeline.Call, _ url.Values) (string, error) {
	p := c.Caller
	if p.UserName == "" || p.Root || p.RoleName != "" || p.Service != "" {
		return "", &apiError{"InvalidUserType", "The specified user type is not valid for this operation: only an IAM user has a password to change.", http.StatusBadRequest}
	}
	return "arn:aws:iam::" + p.AccountID + ":user/" + p.UserName, nil
}

func init() {
	reg("iam", "CreateLoginProfile", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "Password"); err != nil {
			return nil, err
		}
		reset, err := boolParam(q, "PasswordResetRequired")
		if err != nil {
			return nil, err
		}
		p, err := h.Identity.CreateLoginProfile(ctx, c.Caller.AccountID, targetName(c), q.Get("Password"), reset != nil && *reset)
		if err != nil {
			return nil, err
		}
		return struct {
			LoginProfile loginProfileXML `xml:"LoginProfile"`
		}{loginProfileXML{p.UserName, isoTime(p.CreatedAt), p.ResetRequired}}, nil
	})
	reg("iam", "GetLoginProfile", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		p, err := h.Identity.GetLoginProfile(ctx, c.Caller.AccountID, targetName(c))
		if err != nil {
			return nil, err
		}
		return struct {
			LoginProfile loginProfileXML `xml:"LoginProfile"`
		}{loginProfileXML{p.UserName, isoTime(p.CreatedAt), p.ResetRequired}}, nil
	})
	reg("iam", "UpdateLoginProfile", user, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		reset, err := boolParam(q, "PasswordResetRequired")
		if err != nil {
			return nil, err
		}
		var password *string
		if _, ok := q["Password"]; ok {
			pw := q.Get("Password")
			password = &pw
		}
		return nil, h.Identity.UpdateLoginProfile(ctx, c.Caller.AccountID, targetName(c), password, reset)
	})
	reg("iam", "DeleteLoginProfile", userOrCaller, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		return nil, h.Identity.DeleteLoginProfile(ctx, c.Caller.AccountID, targetName(c))
	})
	reg("iam", "ChangePassword", ownUser, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "OldPassword", "NewPassword"); err != nil {
			return nil, err
		}
		return nil, h.Identity.ChangeOwnPassword(ctx, c.Caller, q.Get("OldPassword"), q.Get("NewPassword"))
	})

	reg("iam", "GetAccountPasswordPolicy", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		p, err := h.Identity.PasswordPolicy(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		return struct {
			PasswordPolicy passwordPolicyXML `xml:"PasswordPolicy"`
		}{passwordPolicyXML{p.MinimumLength, p.RequireSymbols, p.RequireNumbers, p.RequireUppercase, p.RequireLowercase,
			p.AllowUsersToChange, p.MaxAge > 0, p.MaxAge, p.ReusePrevention, p.HardExpiry}}, nil
	})
	reg("iam", "UpdateAccountPasswordPolicy", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		// As IAM does: a member not given takes its default, not the value it had.
		p := identity.PasswordPolicy{AccountID: c.Caller.AccountID, MinimumLength: identity.MinPasswordLength}
		for _, m := range []struct {
			name  string
			field *int
			least int
		}{{"MinimumPasswordLength", &p.MinimumLength, identity.MinPasswordLength}, {"MaxPasswordAge", &p.MaxAge, 1},
			{"PasswordReusePrevention", &p.ReusePrevention, 1}} {
			if q.Get(m.name) == "" {
				continue
			}
			n, err := intParam(q, m.name)
			if err != nil {
				return nil, err
			}
			if n < m.least { // the upper bounds are the identity service's to check
				return nil, validation(fmt.Sprintf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d",
					n, lowerFirst(m.name), m.least))
			}
			*m.field = n
		}
		for name, field := range map[string]*bool{"RequireSymbols": &p.RequireSymbols, "RequireNumbers": &p.RequireNumbers,
			"RequireUppercaseCharacters": &p.RequireUppercase, "RequireLowercaseCharacters": &p.RequireLowercase,
			"AllowUsersToChangePassword": &p.AllowUsersToChange, "HardExpiry": &p.HardExpiry} {
			b, err := boolParam(q, name)
			if err != nil {
				return nil, err
			}
			*field = b != nil && *b
		}
		return nil, h.Identity.SetPasswordPolicy(ctx, p)
	})
	reg("iam", "DeleteAccountPasswordPolicy", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		return nil, h.Identity.DeletePasswordPolicy(ctx, c.Caller.AccountID)
	})

	reg("iam", "CreateAccountAlias", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccountAlias"); err != nil {
			return nil, err
		}
		return nil, h.Identity.CreateAccountAlias(ctx, c.Caller.AccountID, q.Get("AccountAlias"))
	})
	reg("iam", "ListAccountAliases", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		aliases, err := h.Identity.AccountAliases(ctx, c.Caller.AccountID)
		if err != nil {
			return nil, err
		}
		items, pg, err := page(q, aliases, itself, asMember)
		if err != nil {
			return nil, err
		}
		return struct {
			Aliases []member `xml:"AccountAliases>member"`
			pageXML
		}{Aliases: items, pageXML: pg}, nil
	})
	reg("iam", "DeleteAccountAlias", nil, func(h *Handler, ctx context.Context, c *pipeline.Call, q url.Values) (any, error) {
		if err := need(q, "AccountAlias"); err != nil {
			return nil, err
		}
		return nil, h.Identity.DeleteAccountAlias(ctx, c.Caller.AccountID, q.Get("AccountAlias"))
	})
}
