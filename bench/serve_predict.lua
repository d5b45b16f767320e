-- wrk script: TF Serving's README request for half_plus_two, POSTed to :predict.
wrk.method = "POST"
wrk.body = '{"instances": [1.0, 2.0, 5.0]}'
wrk.headers["Content-Type"] = "application/json"
