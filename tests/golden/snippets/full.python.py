import os

import requests

user_id = os.environ["CATAPULT_USER_ID"]
call_id = "c-isw3qup6gvr3ywcsentygnq"
response = requests.post(
    f"https://api.catapult.inetwork.com/v1/users/{user_id}/calls/{call_id}/gather",
    auth=(os.environ["CATAPULT_API_TOKEN"], os.environ["CATAPULT_API_SECRET"]),
    json={
        "maxDigits": "4",
        "terminatingDigits": "#*",
        "interDigitTimeout": "2.5",
        "tag": "order-42",
        "suppressDtmf": False,
        "prompt": {
            "sentence": "Entrez votre code, puis dièse.",
            "gender": "male",
            "locale": "fr_FR",
            "voice": "bernard",
            "fileUrl": "https://example.com/menu.mp3",
            "loopEnabled": True,
            "bargeable": False,
        },
    },
    timeout=30,
)
response.raise_for_status()  # 201 Created; errors carry {category, code, message} in the body
gather_id = response.headers["Location"].rsplit("/", 1)[-1]
print(gather_id)
