package authz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/authz"
	"github.com/wharf-dev/wharf/internal/blob/fs"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store/sqlite"
)

const (
	acct  = "111122223333"
	other = "444455556666"
)

type fixture struct {
	authz *authz.PolicyAuthorizer
	ids   *identity.Service
	core  *registry.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(dir + "/wharf.db")
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{authz: authz.NewPolicyAuthorizer(meta, "us-east-1", nil), ids: identity.New(meta, keys, nil, "us-east-1"),
		core: registry.New(meta, blobs, nil, registry.Config{}, nil)}
	t.Cleanup(func() { f.core.Close(); meta.Close() })
	for _, a := range []string{acct, other} {
		if _, err := f.ids.CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) user(t *testing.T, name, policy string) identity.Principal {
	t.Helper()
	ctx := context.Background()
	u, err := f.ids.CreateUser(ctx, acct, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ids.PutUserPolicy(ctx, acct, name, "p", policy); err != nil {
		t.Fatal(err)
	}
	return identity.Principal{AccountID: acct, UserName: name, UserID: u.UserID}
}

func (f *fixture) authorize(caller identity.Principal, targets ...pipeline.Target) error {
	return f.authz.Authorize(context.Background(), &pipeline.Call{Caller: caller, RegistryID: caller.AccountID, Targets: targets})
}

func TestAnonymousIsRefusedEvenWithoutTargets(t *testing.T) {
	f := newFixture(t)
	if err := f.authorize(identity.Principal{}); registry.KindOf(err) != registry.KindUnauthorized {
		t.Fatalf("anonymous: %v", err)
	}
}

func TestRootAndService(t *testing.T) {
	f := newFixture(t)
	del := func(reg string) pipeline.Target { return pipeline.Repository("ecr:DeleteRepository", reg, "app") }
	if err := f.authorize(identity.RootOf(acct), del(acct)); err != nil {
		t.Fatalf("root in its account: %v", err)
	}
	if err := f.authorize(identity.RootOf(acct), del(other)); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("root in another account: %v", err)
	}
	if err := f.authorize(identity.RootOf(acct), pipeline.Target{Action: "iam:CreateAccessKey", Resource: "arn:aws:iam::" + other + ":user/admin"}); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("root on another account's user: %v", err)
	}
	if err := f.authorize(identity.ServiceIn(""), del(acct), del(other)); err != nil {
		t.Fatalf("Wharf's own work: %v", err)
	}
}

// TestEveryTargetIsAuthorized: a call with several targets is allowed only if each is, and the denial
// names the one refused.
func TestEveryTargetIsAuthorized(t *testing.T) {
	f := newFixture(t)
	carol := f.user(t, "carol", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ecr:*","Resource":"*"},
		{"Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"arn:aws:ecr:us-east-1:`+acct+`:repository/secret"}]}`)
	mount := []pipeline.Target{pipeline.Repository("ecr:InitiateLayerUpload", acct, "mine"), pipeline.Repository("ecr:BatchGetImage", acct, "secret")}
	err := f.authorize(carol, mount...)
	if registry.KindOf(err) != registry.KindDenied || !strings.Contains(err.Error(), "ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:"+acct+":repository/secret") {
		t.Fatalf("mount from a repository carol may not read: %v", err)
	}
	if err := f.authorize(carol, mount[0]); err != nil {
		t.Fatalf("push alone: %v", err)
	}
}

// TestRequestTagsBelongToTheirTarget: the aws:RequestTag keys of a target are evaluated on that target.
func TestRequestTagsBelongToTheirTarget(t *testing.T) {
	f := newFixture(t)
	bob := f.user(t, "bob", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ecr:CreateRepository","ecr:TagResource"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"devs"}}}]}`)
	tagged := pipeline.Repository("ecr:CreateRepository", acct, "app")
	tagged.RequestTags, tagged.TagKeys = map[string]string{"team": "devs"}, []string{"team"}
	tag := tagged
	tag.Action = "ecr:TagResource"
	if err := f.authorize(bob, tagged, tag); err != nil {
		t.Fatalf("create tagged team=devs: %v", err)
	}
	wrong := tagged
	wrong.RequestTags = map[string]string{"team": "ops"}
	if err := f.authorize(bob, wrong); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("create tagged team=ops: %v", err)
	}
	if err := f.authorize(bob, pipeline.Repository("ecr:CreateRepository", acct, "app")); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("create untagged: %v", err)
	}
}

// TestRepositoryPolicyOfTheTarget: the policy and tags that apply are those of the target's repository,
// in the target's registry: another account's grant lets a caller in there.
func TestRepositoryPolicyOfTheTarget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.core.CreateRepository(ctx, registry.Repository{RegistryID: other, Name: "shared"}); err != nil {
		t.Fatal(err)
	}
	if err := f.core.SetRepositoryPolicy(ctx, other, "shared", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":"ecr:BatchGetImage"}]}`, true, nil); err != nil {
		t.Fatal(err)
	}
	dana := f.user(t, "dana", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}`)
	call := &pipeline.Call{Caller: dana, RegistryID: other, Targets: []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", other, "shared")}}
	if err := f.authz.Authorize(ctx, call); err != nil {
		t.Fatalf("granted by the other account's repository policy: %v", err)
	}
	call.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", other, "closed")}
	if err := f.authz.Authorize(ctx, call); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("no grant: %v", err)
	}
}

// TestSessionsOfADeletedRole: a session's permissions are its role's; once the role is deleted it has
// none, also after a role of the same name is created again.
func TestSessionsOfADeletedRole(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}}`
	readOnly := "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
	role := func() {
		t.Helper()
		if _, err := f.ids.CreateRole(ctx, acct, "ci", trust, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.ids.AttachOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", readOnly); err != nil {
			t.Fatal(err)
		}
	}
	role()
	old, err := f.ids.AssumeRole(ctx, acct, "ci", "build", 0)
	if err != nil {
		t.Fatal(err)
	}
	describe := pipeline.Repository("ecr:DescribeRepositories", acct, "app")
	if err := f.authorize(old.Principal, describe); err != nil {
		t.Fatalf("a session of ci: %v", err)
	}
	if err := f.ids.DetachOwnerPolicy(ctx, acct, identity.RolePolicies, "ci", readOnly); err != nil {
		t.Fatal(err)
	}
	if err := f.ids.DeleteRole(ctx, acct, "ci"); err != nil {
		t.Fatal(err)
	}
	f.authz.Invalidate()
	if err := f.authorize(old.Principal, describe); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("a session of a deleted role: %v", err)
	}
	role()
	f.authz.Invalidate()
	if err := f.authorize(old.Principal, describe); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("a session of a deleted role, once a role of its name exists again: %v", err)
	}
	fresh, err := f.ids.AssumeRole(ctx, acct, "ci", "build", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.authorize(fresh.Principal, describe); err != nil {
		t.Fatalf("a session of the new role: %v", err)
	}
}

// TestReplicationFromAnotherRegion: a call marked as a replication into another account's registry is
// authorized by that registry's policy (ecr:ReplicateImage for the pushes, ecr:CreateRepository), and the
// caller's own policies, for the actions of a push only; unmarked, the same caller is refused.
func TestReplicationFromAnotherRegion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	marked := registry.WithReplication(ctx, "eu-west-1")
	replicator := f.user(t, "replicator", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`)
	pusher := f.user(t, "pusher", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"}]}`)
	call := func(ctx context.Context, caller identity.Principal, action string) error {
		return f.authz.Authorize(ctx, &pipeline.Call{Caller: caller, RegistryID: other, Targets: []pipeline.Target{pipeline.Repository(action, other, "app")}})
	}
	push := []string{"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"}
	for _, a := range append(push, "ecr:CreateRepository") {
		if err := call(marked, replicator, a); registry.KindOf(err) != registry.KindDenied {
			t.Fatalf("%s without the registry policy: %v", a, err)
		}
	}
	if err := f.core.PutRegistryPolicy(ctx, other, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:`+other+`:repository/*"}]}`); err != nil {
		t.Fatal(err)
	}
	f.authz.Invalidate()
	for _, a := range push {
		if err := call(marked, replicator, a); err != nil {
			t.Fatalf("%s as a replication: %v", a, err)
		}
		if err := call(ctx, replicator, a); registry.KindOf(err) != registry.KindDenied {
			t.Fatalf("%s unmarked: %v", a, err)
		}
	}
	if err := call(marked, replicator, "ecr:ReplicateImage"); err != nil { // asked by a push that creates its repository
		t.Fatalf("ecr:ReplicateImage as a replication: %v", err)
	}
	if err := call(marked, identity.RootOf(acct), "ecr:PutImage"); err != nil {
		t.Fatalf("the source account's root: %v", err)
	}
	if err := call(marked, pusher, "ecr:InitiateLayerUpload"); registry.KindOf(err) != registry.KindDenied {
		t.Fatalf("a caller whose policies do not allow ecr:ReplicateImage: %v", err)
	}
	// Not granted ecr:CreateRepository; and a replication does nothing but push.
	for _, a := range []string{"ecr:CreateRepository", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchDeleteImage", "ecr:DeleteRepository",
		"ecr:SetRepositoryPolicy", "ecr:ListImages"} {
		if err := call(marked, replicator, a); registry.KindOf(err) != registry.KindDenied {
			t.Fatalf("%s as a replication: %v", a, err)
		}
	}
	// In its own account, a replication is authorized as any call.
	if err := f.authz.Authorize(marked, &pipeline.Call{Caller: pusher, RegistryID: acct, Targets: []pipeline.Target{pipeline.Repository("ecr:PutImage", acct, "app")}}); err != nil {
		t.Fatalf("a replication into its own account: %v", err)
	}
}

// TestReplicationFromAnotherRegionHasTheRequestsConditions: a marked call is decided with its condition
// keys (aws:SourceIp), as any call is: a destination registry policy that only lets the source account
// replicate from the source deployment's address, and an identity policy that denies calls from elsewhere,
// both hold for marked calls.
func TestReplicationFromAnotherRegionHasTheRequestsConditions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	marked := registry.WithReplication(ctx, "eu-west-1")
	replicator := f.user(t, "replicator", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`)
	fenced := f.user(t, "fenced", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)
	if err := f.core.PutRegistryPolicy(ctx, other, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:`+other+`:repository/*",
		"Condition":{"IpAddress":{"aws:SourceIp":"10.1.2.3/32"}}}]}`); err != nil {
		t.Fatal(err)
	}
	call := func(caller identity.Principal, ip, action string) error {
		return f.authz.Authorize(marked, &pipeline.Call{Caller: caller, RegistryID: other, SourceIP: ip,
			Targets: []pipeline.Target{pipeline.Repository(action, other, "app")}})
	}
	for _, a := range []string{"ecr:PutImage", "ecr:CreateRepository"} {
		if err := call(replicator, "10.1.2.3", a); err != nil {
			t.Errorf("%s from the address the registry policy names: %v", a, err)
		}
		if err := call(replicator, "192.0.2.1", a); registry.KindOf(err) != registry.KindDenied {
			t.Errorf("%s from another address: %v", a, err)
		}
		if err := call(fenced, "10.1.2.3", a); err != nil {
			t.Errorf("%s by a caller fenced to 10/8, from inside: %v", a, err)
		}
	}
	if err := f.core.PutRegistryPolicy(ctx, other, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:`+other+`:repository/*"},
		{"Effect":"Deny","Principal":"*","Action":["ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:`+other+`:repository/*",
		"Condition":{"NotIpAddress":{"aws:SourceIp":"10.1.2.3/32"}}}]}`); err != nil {
		t.Fatal(err)
	}
	f.authz.Invalidate()
	if err := call(replicator, "10.1.2.3", "ecr:PutImage"); err != nil {
		t.Errorf("from the address the registry policy's deny spares: %v", err)
	}
	if err := call(replicator, "192.0.2.1", "ecr:PutImage"); registry.KindOf(err) != registry.KindDenied {
		t.Errorf("from an address the registry policy denies: %v", err)
	}
	// The registry policy without conditions: the caller's own fence still holds.
	if err := f.core.PutRegistryPolicy(ctx, other, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:`+other+`:repository/*"}]}`); err != nil {
		t.Fatal(err)
	}
	f.authz.Invalidate()
	if err := call(fenced, "10.9.9.9", "ecr:PutImage"); err != nil {
		t.Errorf("by a caller fenced to 10/8, from inside: %v", err)
	}
	if err := call(fenced, "192.0.2.1", "ecr:PutImage"); registry.KindOf(err) != registry.KindDenied {
		t.Errorf("by a caller fenced to 10/8, from outside: %v", err)
	}
}
