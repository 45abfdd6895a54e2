import os

import requests

user_id = "u-xa2n3oxk6it4efbglisna6a"
call_id = "c-abc"
response = requests.post(
    f"http://127.0.0.1:8900/v1/users/{user_id}/calls/{call_id}/gather",
    auth=(os.environ["CATAPULT_API_TOKEN"], os.environ["CATAPULT_API_SECRET"]),
    json={
        "maxDigits": "1",
        "prompt": {
            "sentence": "Press \"1\" for $5\nthen #",
        },
    },
    timeout=30,
)
response.raise_for_status()  # 201 Created; errors carry {category, code, message} in the body
gather_id = response.headers["Location"].rsplit("/", 1)[-1]
print(gather_id)
