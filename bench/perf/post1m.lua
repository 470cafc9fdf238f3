-- wrk script: POST a 1 MiB body (as the harness's post1m scenario does).
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
