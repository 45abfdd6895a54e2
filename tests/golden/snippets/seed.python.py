import os

import requests

user_id = os.environ["CATAPULT_USER_ID"]
call_id = "{callId}"
response = requests.post(
    f"https://api.catapult.inetwork.com/v1/users/{user_id}/calls/{call_id}/gather",
    auth=(os.environ["CATAPULT_API_TOKEN"], os.environ["CATAPULT_API_SECRET"]),
    json={
        "maxDigits": "5",
        "terminatingDigits": "*",
        "interDigitTimeout": "7",
        "prompt": {
            "sentence": "Please enter your 5 digit code",
        },
    },
    timeout=30,
)
response.raise_for_status()  # 201 Created; errors carry {category, code, message} in the body
gather_id = response.headers["Location"].rsplit("/", 1)[-1]
print(gather_id)
