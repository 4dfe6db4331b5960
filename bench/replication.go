package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// replicationBench measures the replication to another region's deployment: two nodes on this machine,
// us-east-1 replicating to us-west-2, and an image of one layer of 256 MiB of random bytes pushed to the
// first. The lag is from the push of its manifest acknowledged to the replication COMPLETE, as
// DescribeImageReplicationStatus tells (polled every 20 ms).
func replicationBench() {
	dir, err := os.MkdirTemp("", "wharf-bench-replication")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wharf")
	build.Stderr = os.Stderr
	check(build.Run())
	env := []string{`WHARF_THROTTLE={"default": {"*": {"rate": 1e9}}}`}
	west, stopWest := startNode(bin, filepath.Join(dir, "west"), env, "--region", "us-west-2")
	defer stopWest()
	east, stopEast := startNode(bin, filepath.Join(dir, "east"), env, "--region", "us-east-1",
		"--replication-peer", "us-west-2=http://"+west, "--replication-retry-base", "100ms")
	defer stopEast()
	cleanups = append(cleanups, stopWest, stopEast)

	// The source account's key at us-west-2 (the bench's admin key is the same on both) in its secret.
	secretsCall(east, "CreateSecret", fmt.Sprintf(`{"Name":"wharf/replication/us-west-2","SecretString":"{\"accessKeyId\":\"%s\",\"secretAccessKey\":\"%s\"}"}`,
		benchKeyID, benchSecret))
	b := benchFor([]string{east})
	ctx := context.Background()
	_, err = b.ecr.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{
		Rules: []types.ReplicationRule{{Destinations: []types.ReplicationDestination{{Region: aws.String("us-west-2"), RegistryId: aws.String("000000000000")}}}}}})
	check(err)

	const size = 256 << 20
	layer := make([]byte, size)
	rand.Read(layer)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	ld, cd := digest.FromBytes(layer), digest.FromBytes(config)
	b.putBlob("bench/replication", ld, layer)
	b.putBlob("bench/replication", cd, config)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, cd, len(config), ld, size)
	do("PUT", b.base+"/v2/bench/replication/manifests/v1", bytes.NewReader([]byte(m)), int64(len(m)),
		"Content-Type", "application/vnd.oci.image.manifest.v1+json")
	start := time.Now()
	for {
		out, err := b.ecr.DescribeImageReplicationStatus(ctx, &ecr.DescribeImageReplicationStatusInput{
			RepositoryName: aws.String("bench/replication"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
		check(err)
		st := out.ReplicationStatuses[0]
		if st.Status == types.ReplicationStatusFailed {
			check(fmt.Errorf("replication FAILED: %s", aws.ToString(st.FailureCode)))
		}
		if st.Status == types.ReplicationStatusComplete {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	lag := time.Since(start)
	fmt.Printf("%-34s %s, %s (1 layer x 256 MiB)\n", "replication to another region", lag.Round(time.Millisecond), mbps(size, lag))
}

// secretsCall calls a Secrets Manager operation of a node as the bench's admin.
func secretsCall(node, op, body string) {
	req, err := http.NewRequest("POST", "http://"+node+"/", bytes.NewReader([]byte(body)))
	check(err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	sum := sha256.Sum256([]byte(body))
	check(v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: benchKeyID, SecretAccessKey: benchSecret},
		req, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", time.Now()))
	res, err := client.Do(req)
	check(err)
	res.Body.Close()
	if res.StatusCode != 200 {
		check(fmt.Errorf("secretsmanager %s: %s", op, res.Status))
	}
}
