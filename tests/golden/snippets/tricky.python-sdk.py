import os

import bandwidth

voice_api = bandwidth.client(
    "voice",
    "u-xa2n3oxk6it4efbglisna6a",
    os.environ["CATAPULT_API_TOKEN"],
    os.environ["CATAPULT_API_SECRET"],
    api_endpoint="http://127.0.0.1:8900",
)
gather_id = voice_api.create_call_gather(
    "c-abc",
    max_digits=1,
    prompt={
        "sentence": "Press \"1\" for $5\nthen #",
    },
)
print(gather_id)
