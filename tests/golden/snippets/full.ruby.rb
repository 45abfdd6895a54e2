# The client and the call, made once (ruby-bandwidth):
#   require "ruby-bandwidth"
#   client = Bandwidth::Client.new(ENV["CATAPULT_USER_ID"], ENV["CATAPULT_API_TOKEN"], ENV["CATAPULT_API_SECRET"])
#   call = Bandwidth::Call.get(client, "c-isw3qup6gvr3ywcsentygnq")
gather = call.create_gather({
    :max_digits => "4",
    :terminating_digits => "#*",
    :inter_digit_timeout => "2.5",
    :tag => "order-42",
    :suppress_dtmf => false,
    :prompt => {
        :sentence => "Entrez votre code, puis dièse.",
        :gender => "male",
        :locale => "fr_FR",
        :voice => "bernard",
        :file_url => "https://example.com/menu.mp3",
        :loop_enabled => true,
        :bargeable => false
    }
})
