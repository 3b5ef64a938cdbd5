package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/riverflow/flow"
)

// A function reports its progress on the channel of the video it works on;
// the app reads it with a subscription (a browser would use
// Client.RealtimeHandler with a token from Client.RealtimeToken).
func ExamplePublish() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = flow.CreateFunction(client, flow.FunctionOpts{ID: "transcribe"}, flow.EventTrigger("video/uploaded"),
		func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
			channel := "video:" + in.Event.Data["id"]
			for _, stage := range []string{"fetching", "transcribing", "done"} {
				// A durable step: sent once, even if a later step retries.
				if err := flow.Publish(ctx, "status-"+stage, channel, "status", stage); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	sub, err := client.Subscribe(ctx, "video:42", "status")
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	if _, err := client.Send(ctx, flow.Event{Name: "video/uploaded", Data: map[string]string{"id": "42"}}); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		m, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Topic, string(m.Data))
	}
	// Output:
	// status "fetching"
	// status "transcribing"
	// status "done"
}
