# The client and the call, made once (ruby-bandwidth):
#   require "ruby-bandwidth"
#   client = Bandwidth::Client.new(ENV["CATAPULT_USER_ID"], ENV["CATAPULT_API_TOKEN"], ENV["CATAPULT_API_SECRET"])
#   call = Bandwidth::Call.get(client, "{callId}")
gather = call.create_gather({
    :max_digits => "5",
    :terminating_digits => "*",
    :inter_digit_timeout => "7",
    :prompt => {
        :sentence => "Please enter your 5 digit code"
    }
})
