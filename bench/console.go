package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// consoleBench measures the console's pages as the browser loads them: one signed-in session calling
// the ECR API through /console/api/ecr. A registry of 1,000 repositories, one of them with 10,000 images:
// the repositories page is DescribeRepositories (100 a page) and DescribeUsage for those 100; a page of
// images is DescribeImages (100 a page).
func (b *bench) consoleBench() {
	const repos, images = 1000, 10000
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int, repos)
	for i := 0; i < repos; i++ {
		next <- i
	}
	close(next)
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := b.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("console/r%04d", i))})
				if err != nil && !strings.Contains(err.Error(), "RepositoryAlreadyExists") {
					check(err)
				}
			}
		}()
	}
	wg.Wait()
	repo := "console/r0500"
	cfg, layer := b.pushBase(repo)
	next = make(chan int, images)
	for i := 0; i < images; i++ {
		next <- i
	}
	close(next)
	for c := 0; c < 10; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := manifestBody(cfg, layer, i)
				do("PUT", fmt.Sprintf("%s/v2/%s/manifests/t%05d", b.base, repo, i), bytes.NewReader(body), int64(len(body)),
					"Content-Type", "application/vnd.oci.image.manifest.v1+json")
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%-34s %d repositories, %d images in %s (set-up)\n", "console", repos, images, round(time.Since(start)))

	c := b.consoleSession()
	var names []string
	measure := func(label string, n int, call func() int) {
		ds := make([]time.Duration, n)
		var size int
		for i := range ds {
			t := time.Now()
			size = call()
			ds[i] = time.Since(t)
		}
		fmt.Printf("%-34s p50 %s, p95 %s, max %s (%d calls, %d bytes)\n", label, round(percentile(ds, .5)), round(percentile(ds, .95)), round(percentile(ds, 1)), n, size)
	}
	var token string
	measure("console: repositories, page 1", 50, func() int {
		out, n := c.ecr("DescribeRepositories", map[string]any{"maxResults": 100})
		names = names[:0]
		for _, r := range out["repositories"].([]any) {
			names = append(names, r.(map[string]any)["repositoryName"].(string))
		}
		token, _ = out["nextToken"].(string)
		return n
	})
	for p := 0; p < 4; p++ { // the fifth page, around the repository with the images
		out, _ := c.ecr("DescribeRepositories", map[string]any{"maxResults": 100, "nextToken": token})
		token, _ = out["nextToken"].(string)
	}
	measure("console: repositories, page 6", 50, func() int {
		out, n := c.ecr("DescribeRepositories", map[string]any{"maxResults": 100, "nextToken": token})
		names = names[:0]
		for _, r := range out["repositories"].([]any) {
			names = append(names, r.(map[string]any)["repositoryName"].(string))
		}
		return n
	})
	measure("console: usage of those 100", 50, func() int {
		_, n := c.ecr("DescribeUsage", map[string]any{"repositoryNames": names, "days": 30})
		return n
	})
	measure("console: images, page 1 of 100", 50, func() int {
		out, n := c.ecr("DescribeImages", map[string]any{"repositoryName": repo, "maxResults": 100})
		token, _ = out["nextToken"].(string)
		return n
	})
	for p := 0; p < 48; p++ {
		out, _ := c.ecr("DescribeImages", map[string]any{"repositoryName": repo, "maxResults": 100, "nextToken": token})
		token, _ = out["nextToken"].(string)
	}
	measure("console: images, page 50 of 100", 50, func() int {
		_, n := c.ecr("DescribeImages", map[string]any{"repositoryName": repo, "maxResults": 100, "nextToken": token})
		return n
	})
}

type consoleClient struct {
	base string
	http *http.Client
	csrf string
}

// consoleSession gives the admin a console password (IAM's CreateLoginProfile, signed with its key) and
// signs in.
func (b *bench) consoleSession() *consoleClient {
	const password = "Bench-console-1!"
	form := url.Values{"Action": {"CreateLoginProfile"}, "Version": {"2010-05-08"}, "UserName": {"admin"}, "Password": {password}}
	body := form.Encode()
	req, err := http.NewRequest("POST", b.base+"/", strings.NewReader(body))
	check(err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	check(v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: benchKeyID, SecretAccessKey: benchSecret},
		req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()))
	res, err := client.Do(req)
	check(err)
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 && !strings.Contains(string(out), "EntityAlreadyExists") {
		check(fmt.Errorf("CreateLoginProfile: %s: %s", res.Status, out))
	}
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{base: b.base, http: &http.Client{Jar: jar, Transport: client.Transport}}
	in, _ := json.Marshal(map[string]string{"accountId": "000000000000", "userName": "admin", "password": password})
	res, err = c.http.Post(b.base+"/console/api/signin", "application/json", bytes.NewReader(in))
	check(err)
	out, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		check(fmt.Errorf("console sign-in: %s: %s", res.Status, out))
	}
	res, err = c.http.Get(b.base + "/console/api/session")
	check(err)
	var s struct{ CsrfToken string }
	check(json.NewDecoder(res.Body).Decode(&s))
	res.Body.Close()
	c.csrf = s.CsrfToken
	return c
}

// ecr calls an ECR operation as the console's page does, returning its output and its size.
func (c *consoleClient) ecr(op string, in any) (map[string]any, int) {
	body, _ := json.Marshal(in)
	req, err := http.NewRequest("POST", c.base+"/console/api/ecr", bytes.NewReader(body))
	check(err)
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Wharf-Csrf", c.csrf)
	res, err := c.http.Do(req)
	check(err)
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		check(fmt.Errorf("%s: %s: %s", op, res.Status, data))
	}
	var out map[string]any
	check(json.Unmarshal(data, &out))
	return out, len(data)
}
