import os

import bandwidth

voice_api = bandwidth.client(
    "voice",
    os.environ["CATAPULT_USER_ID"],
    os.environ["CATAPULT_API_TOKEN"],
    os.environ["CATAPULT_API_SECRET"],
)
gather_id = voice_api.create_call_gather(
    "{callId}",
    max_digits=5,
    terminating_digits="*",
    inter_digit_timeout=7,
    prompt={
        "sentence": "Please enter your 5 digit code",
    },
)
print(gather_id)
