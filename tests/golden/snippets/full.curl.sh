# Credentials come from the environment: CATAPULT_USER_ID, CATAPULT_API_TOKEN, CATAPULT_API_SECRET.
curl --include -X POST "https://api.catapult.inetwork.com/v1/users/${CATAPULT_USER_ID}/calls/c-isw3qup6gvr3ywcsentygnq/gather" \
    -u "${CATAPULT_API_TOKEN}:${CATAPULT_API_SECRET}" \
    -H "Content-Type: application/json; charset=utf-8" \
    --data '{
    "maxDigits": "4",
    "terminatingDigits": "#*",
    "interDigitTimeout": "2.5",
    "tag": "order-42",
    "suppressDtmf": false,
    "prompt": {
        "sentence": "Entrez votre code, puis dièse.",
        "gender": "male",
        "locale": "fr_FR",
        "voice": "bernard",
        "fileUrl": "https://example.com/menu.mp3",
        "loopEnabled": true,
        "bargeable": false
    }
}'
