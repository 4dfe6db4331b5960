package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

type accountSettingInput struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func init() {
	register("GetAccountSetting", func(h *Handler, ctx context.Context, c *pipeline.Call, in *accountSettingInput) (any, error) {
		if err := required("name", in.Name); err != nil {
			return nil, err
		}
		v, err := h.Service.AccountSetting(ctx, c.RegistryID, in.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"name": in.Name, "value": v}, nil
	})

	register("PutAccountSetting", func(h *Handler, ctx context.Context, c *pipeline.Call, in *accountSettingInput) (any, error) {
		if err := required("name", in.Name); err != nil {
			return nil, err
		}
		if err := required("value", in.Value); err != nil {
			return nil, err
		}
		if err := h.Service.PutAccountSetting(ctx, c.RegistryID, in.Name, in.Value); err != nil {
			return nil, err
		}
		return map[string]any{"name": in.Name, "value": in.Value}, nil
	})
}
