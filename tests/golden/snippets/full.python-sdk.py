import os

import bandwidth

voice_api = bandwidth.client(
    "voice",
    os.environ["CATAPULT_USER_ID"],
    os.environ["CATAPULT_API_TOKEN"],
    os.environ["CATAPULT_API_SECRET"],
)
gather_id = voice_api.create_call_gather(
    "c-isw3qup6gvr3ywcsentygnq",
    max_digits=4,
    terminating_digits="#*",
    inter_digit_timeout=2.5,
    tag="order-42",
    suppressDtmf=False,
    prompt={
        "sentence": "Entrez votre code, puis dièse.",
        "gender": "male",
        "locale": "fr_FR",
        "voice": "bernard",
        "fileUrl": "https://example.com/menu.mp3",
        "loopEnabled": True,
        "bargeable": False,
    },
)
print(gather_id)
