# The client and the call, made once (ruby-bandwidth):
#   require "ruby-bandwidth"
#   client = Bandwidth::Client.new("u-xa2n3oxk6it4efbglisna6a", ENV["CATAPULT_API_TOKEN"], ENV["CATAPULT_API_SECRET"], "http://127.0.0.1:8900")
#   call = Bandwidth::Call.get(client, "c-abc")
gather = call.create_gather({
    :max_digits => "1",
    :prompt => {
        :sentence => "Press \"1\" for $5\nthen #"
    }
})
