# Credentials come from the environment: CATAPULT_API_TOKEN, CATAPULT_API_SECRET.
curl --include -X POST "http://127.0.0.1:8900/v1/users/u-xa2n3oxk6it4efbglisna6a/calls/c-abc/gather" \
    -u "${CATAPULT_API_TOKEN}:${CATAPULT_API_SECRET}" \
    -H "Content-Type: application/json; charset=utf-8" \
    --data '{
    "maxDigits": "1",
    "prompt": {
        "sentence": "Press \"1\" for $5\nthen #"
    }
}'
