# Credentials come from the environment: CATAPULT_USER_ID, CATAPULT_API_TOKEN, CATAPULT_API_SECRET.
curl --include -X POST "https://api.catapult.inetwork.com/v1/users/${CATAPULT_USER_ID}/calls/{callId}/gather" \
    -u "${CATAPULT_API_TOKEN}:${CATAPULT_API_SECRET}" \
    -H "Content-Type: application/json; charset=utf-8" \
    --data '{
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {
        "sentence": "Please enter your 5 digit code"
    }
}'
