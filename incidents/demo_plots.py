"""What happened in each of the demo's past incidents (the plots incidents/demo_history.py plays), per scenario.

Data only: a plot's notes, statements and review narrative are written so that any tempo the history draws for it
tells one consistent story (the facts that depend on the tempo are added to the review from the record).
"""

from __future__ import annotations

from dataclasses import dataclass

from incidents.models import Channel, Platform, Scenario, Severity, TimelineEntry

MAJA, ERIK, PRIYA, DANIEL, SOFIA = (
    f"{n}@northwind.example" for n in ("maja", "erik", "priya", "daniel", "sofia")
)

# --- plots -------------------------------------------------------------------------------------------------------
# What happened, per scenario. {n} in a title is the plot's number within its scenario, never shown twice.


@dataclass(frozen=True)
class Plot:
    scenario: str
    severity: str
    title: str
    summary: str
    platforms: tuple[str, ...]
    notes: tuple[tuple[str, str, str], ...]  # (who, kind, text), spread over the response
    holding: tuple[str, str, str]  # (channel, title, body) of the first statement
    update: tuple[str, str, str] | None  # a later update that supersedes it
    narrative: str  # the review's "what happened", in the team's words
    well: str
    badly: str
    lesson: str
    follow_up: str
    privileged: str = ""  # a note from Legal under privilege, when the plot has one


N, D, A, X = (
    TimelineEntry.Kind.NOTE,
    TimelineEntry.Kind.DECISION,
    TimelineEntry.Kind.ACTION,
    TimelineEntry.Kind.EXTERNAL,
)

PLOTS: tuple[Plot, ...] = (
    # --- outages ---
    Plot(
        Scenario.OUTAGE,
        Severity.SEV1,
        "App login failing for all customers",
        "Since the 06:10 release the app returns 'session expired' on every login. Web checkout still works.",
        (Platform.X, Platform.REVIEWS, Platform.WEBSITE),
        (
            (ERIK, N, "Engineering confirms the session service rejects tokens from the new release."),
            (SOFIA, X, "App store reviews: 140 one-star reviews in an hour, most say 'can't log in'."),
            (MAJA, D, "Roll back the 06:10 release; no partial fix attempts."),
            (ERIK, A, "Status page set to 'major outage' with the same wording as the holding statement."),
            (
                SOFIA,
                N,
                "Mentions falling after the rollback; two influencers asked whether accounts were hacked.",
            ),
        ),
        (
            Channel.X,
            "Holding statement: app login",
            "Our app is not letting anyone log in right now. We're sorry: this is our fault, your account is safe, "
            "and we are rolling back the change that caused it. Next update within the hour.",
        ),
        (
            Channel.X,
            "Update: app login restored",
            "Logins work again. The problem came from an update we released this morning; we rolled it back. "
            "Sorry for the disruption, and thank you for your patience.",
        ),
        "A release broke the app's login for everyone for about an hour and a half; web checkout kept working.",
        "The rollback decision was made within minutes; nobody tried to patch forward under pressure.",
        "The release went out without the login smoke test; app store reviews took the brunt.",
        "Login is part of the release smoke test, and a failed one blocks the rollout.",
        "Add the login smoke test to the release pipeline as a blocking step",
    ),
    Plot(
        Scenario.OUTAGE,
        Severity.SEV2,
        "Click-and-collect orders stuck in 'preparing'",
        "Stores cannot mark click-and-collect orders ready; customers arrive and wait. About 600 orders affected.",
        (Platform.FACEBOOK, Platform.X),
        (
            (ERIK, N, "Store systems: the order sync job has been failing since 02:00."),
            (SOFIA, X, "Facebook: customers posting photos of queues at Stockholm City."),
            (MAJA, D, "Stores hand out orders from the paper pick list until the sync is fixed."),
            (ERIK, A, "Store managers briefed by e-mail with the paper-list procedure."),
        ),
        (
            Channel.FACEBOOK,
            "Click-and-collect delays",
            "Some click-and-collect orders are showing as 'preparing' when they are ready. If you have a pick-up "
            "today, go to the store as planned: staff can find your order. We are fixing the app status now.",
        ),
        None,
        "A failing sync job left click-and-collect orders showing as 'preparing' for half a day.",
        "The paper pick-list fallback worked in every store we checked.",
        "Nobody owned the sync job's alerts overnight.",
        "Every job that touches orders has an owner and a paging alert.",
        "Give the order sync job an owner and a paging alert",
    ),
    Plot(
        Scenario.OUTAGE,
        Severity.SEV2,
        "Card payments declined at checkout",
        "About a third of card payments are declined at the payment step since 11:20. PayPal still works.",
        (Platform.X, Platform.REDDIT, Platform.WEBSITE),
        (
            (ERIK, N, "PayNordic confirms a certificate problem on their side; fix in progress."),
            (SOFIA, X, "Reddit thread 'Northwind eating my card payments?' with 300 comments."),
            (MAJA, D, "Banner on checkout recommending PayPal until PayNordic confirms the fix."),
            (ERIK, N, "PayNordic: fix deployed 13:05, decline rate back to normal."),
        ),
        (
            Channel.X,
            "Holding statement: card payments",
            "Some card payments at checkout are being declined. We're sorry: our payment provider is fixing it. "
            "No money is taken for a declined payment. PayPal works meanwhile. Next update by 14:00.",
        ),
        (
            Channel.X,
            "Update: card payments working",
            "Card payments work normally again. If a payment was declined, no money was taken. Thank you for "
            "your patience, and sorry for the trouble.",
        ),
        "A certificate problem at our payment provider declined a third of card payments for almost two hours.",
        "The checkout banner pointing to PayPal kept half the affected orders.",
        "We learned about it from Reddit before our own monitoring paged anyone.",
        "Alert on the card decline rate, not only on errors.",
        "Alert when the card decline rate doubles within 15 minutes",
    ),
    Plot(
        Scenario.OUTAGE,
        Severity.SEV3,
        "Size guide missing on product pages",
        "The size guide link shows an empty page on every product since the content update.",
        (Platform.INSTAGRAM, Platform.WEBSITE),
        (
            (ERIK, N, "Content team: the size guide was unpublished by mistake in the CMS."),
            (ERIK, A, "Size guide republished; cache cleared."),
            (SOFIA, N, "Instagram DMs about sizes answered with the PDF size guide meanwhile."),
        ),
        (
            Channel.INSTAGRAM,
            "Size guide back",
            "Our size guide went missing from product pages this morning. It's back now, and the PDF version "
            "is in our bio if you need it. Sorry for the hassle!",
        ),
        None,
        "The size guide was unpublished by mistake for a morning; sales of boots dipped while it was gone.",
        "Support answered size questions with the PDF within the hour.",
        "The CMS let one person unpublish a page used on every product.",
        "Pages linked from every product need a second pair of eyes to unpublish.",
        "Require a second approver to unpublish site-wide CMS pages",
    ),
    Plot(
        Scenario.OUTAGE,
        Severity.SEV1,
        "Website down during the winter sale launch",
        "The website returns errors for most visitors since the winter sale e-mail went out at 08:00.",
        (Platform.X, Platform.FACEBOOK, Platform.NEWS, Platform.WEBSITE),
        (
            (ERIK, N, "Platform team: the product search cluster is overloaded; scaling out now."),
            (SOFIA, X, "#NorthwindSale trending, mostly screenshots of the error page."),
            (MAJA, D, "Extend the sale by two days and say so in the update."),
            (DANIEL, D, "Approved: sale extended to Sunday."),
            (ERIK, N, "Site stable since 09:40 with search on the larger cluster."),
        ),
        (
            Channel.X,
            "Holding statement: website",
            "Our website is struggling after the winter sale launch. We're sorry: we're adding capacity right "
            "now. The sale isn't going anywhere. Next update within the hour.",
        ),
        (
            Channel.X,
            "Update: sale extended",
            "The website is working normally again. Because many of you couldn't shop this morning, the winter "
            "sale now runs until Sunday. Sorry for the wait.",
        ),
        "The winter sale e-mail brought more visitors than search could handle; the site was down for 1.5 hours.",
        "Extending the sale turned the mood: the update was shared more than the complaints.",
        "The load test used last year's traffic; nobody knew the e-mail list had doubled.",
        "Load-test big launches with this year's list size, a week before.",
        "Load-test the spring launch with the current mailing-list size",
    ),
    # --- data and security ---
    Plot(
        Scenario.DATA_BREACH,
        Severity.SEV1,
        "Phishing site copying our checkout",
        "northwind-outlet.example copies our checkout and is advertised on Facebook; customers report losses.",
        (Platform.FACEBOOK, Platform.X, Platform.NEWS),
        (
            (PRIYA, D, "Takedown requests sent to the registrar and Facebook; police report filed."),
            (SOFIA, X, "Facebook ads for the fake site reported; 12 customers say they paid it."),
            (ERIK, A, "Support macro: how to spot our real site, and what to do if you paid the fake one."),
            (PRIYA, N, "Registrar suspended the domain at 16:40."),
        ),
        (
            Channel.FACEBOOK,
            "Warning: fake Northwind shop",
            "A fake website pretending to be a Northwind outlet is being advertised on Facebook. Our only shop is "
            "northwind.example. If you paid the fake site, contact your bank and our support team: we will help. "
            "We have asked for the site to be taken down.",
        ),
        (
            Channel.FACEBOOK,
            "Update: fake shop taken down",
            "The fake 'Northwind outlet' site has been taken down. If you paid it, please contact your bank and "
            "our support team. Thank you to everyone who reported the ads.",
        ),
        "A phishing site copied our checkout and was advertised on Facebook for two days before we heard.",
        "Legal's takedown request template got the domain suspended the same day.",
        "Customers told us before any monitoring did.",
        "Watch new domains that look like ours.",
        "Subscribe to a look-alike domain monitoring service",
        "Counsel: do not say customers' card data was stolen from us; it was not, and saying so invites claims.",
    ),
    Plot(
        Scenario.DATA_BREACH,
        Severity.SEV2,
        "Newsletter sent with every recipient visible",
        "The October newsletter went to 2,300 members with all addresses in the To: field.",
        (Platform.X, Platform.OTHER),
        (
            (PRIYA, D, "This is a personal data breach; we notify the regulator within 72 hours."),
            (ERIK, N, "Mail vendor confirms: a template change put the list in To: instead of Bcc."),
            (ERIK, A, "Recall attempted; personal apology e-mail drafted for the 2,300 recipients."),
        ),
        (
            Channel.EMAIL,
            "An apology about our newsletter",
            "This morning our newsletter was sent with the e-mail addresses of all recipients visible. This was "
            "our mistake and we are sorry. No other information was shared. We have reported it to the data "
            "protection authority and changed how newsletters are sent so it cannot happen again.",
        ),
        None,
        "A template change exposed 2,300 newsletter recipients' addresses to each other.",
        "The regulator was notified within a day, well inside 72 hours.",
        "The template change was tested with a list of one.",
        "Test newsletter templates with a list of at least three addresses.",
        "Add a three-recipient test send to the newsletter checklist",
        "Counsel: notification to IMY filed; keep the wording to facts, no speculation about misuse.",
    ),
    Plot(
        Scenario.DATA_BREACH,
        Severity.SEV1,
        "Loyalty accounts taken over with reused passwords",
        "Around 400 loyalty accounts logged in from unusual locations; points redeemed for gift cards.",
        (Platform.X, Platform.REDDIT),
        (
            (ERIK, N, "Security: credential stuffing from a botnet; passwords reused from other breaches."),
            (MAJA, D, "Force a password reset for affected accounts; freeze gift card redemption for 24 h."),
            (ERIK, A, "Redeemed points restored to every affected member."),
            (SOFIA, X, "A Reddit post claims 'Northwind was hacked'; replied with the facts."),
        ),
        (
            Channel.X,
            "About loyalty accounts",
            "Some loyalty accounts were accessed with passwords stolen from other websites. Our systems were "
            "not breached. We have reset those passwords and will restore any points used. Please don't reuse "
            "passwords. We're sorry for the worry.",
        ),
        None,
        "Reused passwords let a botnet into about 400 loyalty accounts; we restored every point.",
        "Freezing redemptions stopped the losses within an hour of declaring.",
        "We had no rate limit on login attempts from one address range.",
        "Rate-limit logins and offer two-step login to loyalty members.",
        "Rate-limit loyalty logins per address range",
    ),
    Plot(
        Scenario.DATA_BREACH,
        Severity.SEV2,
        "Order confirmation e-mails sent to the wrong customers",
        "For 40 minutes order confirmations went to the previous customer in the queue; 180 e-mails affected.",
        (Platform.X, Platform.OTHER),
        (
            (ERIK, N, "E-mail service: a caching bug reused the previous recipient."),
            (
                PRIYA,
                D,
                "Personal data breach (names, addresses, items). Notify the regulator and the customers.",
            ),
            (ERIK, A, "Each affected customer e-mailed personally with an apology and a gift card."),
        ),
        (
            Channel.EMAIL,
            "Your order confirmation",
            "For a short time this morning, some order confirmations were sent to the wrong customer. Yours was "
            "one of them. We're sorry. It included your name, delivery address and the items ordered, no payment "
            "details. We have fixed the cause and reported it to the data protection authority.",
        ),
        None,
        "A caching bug sent 180 order confirmations to the wrong customers for 40 minutes.",
        "Every affected customer heard from us personally the same day.",
        "The bug shipped without a test for concurrent orders.",
        "Test e-mail rendering under concurrent orders.",
        "Add a concurrency test for order confirmation e-mails",
    ),
    Plot(
        Scenario.DATA_BREACH,
        Severity.SEV3,
        "Test discount codes leaked on a coupon site",
        "Internal test codes (90 % off) appeared on a coupon site; 70 orders used them before we noticed.",
        (Platform.REDDIT, Platform.OTHER),
        (
            (ERIK, N, "E-commerce: test codes were valid in production. Disabled at 10:15."),
            (MAJA, D, "Honour the 70 orders; no public statement beyond support replies."),
            (SOFIA, X, "Coupon site removed the codes after our request."),
        ),
        (
            Channel.SUPPORT_MACRO,
            "Support reply: discount codes",
            "Thanks for asking about the code you saw online. It was an internal test code that should never have "
            "worked. Orders already placed with it will be delivered; the code no longer works.",
        ),
        None,
        "Internal test discount codes worked in production and leaked to a coupon site.",
        "Honouring the orders turned a complaint risk into goodwill.",
        "Test codes were created in the production shop.",
        "Test codes live only in the staging shop.",
        "Move discount-code testing to the staging shop",
    ),
    # --- posts and campaigns ---
    Plot(
        Scenario.CONTROVERSIAL_POST,
        Severity.SEV2,
        "Midsummer ad accused of copying an artist",
        "A Swedish illustrator says our Midsummer campaign copies her style; her post has 20k shares.",
        (Platform.INSTAGRAM, Platform.X, Platform.NEWS),
        (
            (ERIK, N, "Agency confirms the illustrator's work was on their mood board."),
            (PRIYA, D, "Settle: fee and credit; no admission in writing before the agreement is signed."),
            (SOFIA, A, "Campaign posts paused on all channels."),
            (ERIK, N, "Illustrator accepted; joint post agreed for tomorrow."),
        ),
        (
            Channel.INSTAGRAM,
            "About our Midsummer campaign",
            "Our Midsummer campaign drew on the work of illustrator Elin Berg without asking her. That was wrong "
            "and we're sorry. We have paused the campaign and are talking to Elin about making it right.",
        ),
        (
            Channel.INSTAGRAM,
            "Midsummer, made right",
            "We have agreed with Elin Berg to credit and pay her for the work our campaign drew on. The campaign "
            "comes back next week, with her name on it. Thank you, Elin, for talking to us.",
        ),
        "Our Midsummer campaign copied an illustrator's style; we paused it, apologised and paid her.",
        "Talking to the illustrator directly, the same day, defused it.",
        "The agency's mood board was never checked for rights.",
        "Campaign mood boards are checked for rights before production.",
        "Add a rights check of mood boards to the agency brief",
        "Counsel: keep the apology to the campaign; nothing about the agency's liability.",
    ),
    Plot(
        Scenario.CONTROVERSIAL_POST,
        Severity.SEV3,
        "Joke tweet about rain read as mocking flood victims",
        "Our 'a little rain never hurt anyone' post went out the day of the Gävle floods.",
        (Platform.X,),
        (
            (SOFIA, A, "Post deleted 25 minutes after publishing."),
            (ERIK, N, "Scheduled posts checked for the next week against the news."),
            (SOFIA, X, "Replies mostly angry; a local newspaper asks for comment."),
        ),
        (
            Channel.X,
            "About our post this morning",
            "This morning we posted a joke about rain on the day of the floods in Gävle. It was thoughtless and "
            "we have deleted it. We're sorry. Our thoughts are with everyone affected.",
        ),
        None,
        "A scheduled joke about rain went out on the day of serious floods.",
        "Deleting and apologising within the hour kept the story small.",
        "Scheduled posts are not checked against the day's news.",
        "Whoever is on social duty checks the day's scheduled posts against the news each morning.",
        "Add a morning news check of scheduled posts to the social rota",
    ),
    Plot(
        Scenario.CONTROVERSIAL_POST,
        Severity.SEV2,
        "Influencer's paid post without an ad label",
        "A fitness influencer posted about our jackets without marking it as paid; a consumer blog noticed.",
        (Platform.INSTAGRAM, Platform.NEWS),
        (
            (PRIYA, N, "Marketing law requires the label; the contract says so too."),
            (SOFIA, A, "Influencer added the label within the hour."),
            (ERIK, N, "Consumer Agency enquiry answered with the contract clause."),
        ),
        (
            Channel.INSTAGRAM,
            "About a partner post",
            "A post about our jackets by one of our partners was missing its 'paid partnership' label. It was a "
            "paid post and should have said so. The label has been added. We're sorry for the confusion.",
        ),
        None,
        "A paid influencer post went out without its ad label.",
        "The influencer fixed the label within the hour.",
        "Nobody checked the post before it went live.",
        "Partner posts are approved by us before they go live.",
        "Require our approval of partner posts before publishing",
    ),
    Plot(
        Scenario.CONTROVERSIAL_POST,
        Severity.SEV2,
        "Pride collection criticised as rainbow-washing",
        "Creators point out that Pride collection profits go nowhere near what our post implied.",
        (Platform.TIKTOK, Platform.INSTAGRAM),
        (
            (ERIK, N, "Finance: 5 % of profits were promised, not 'all profits' as the post said."),
            (MAJA, D, "Correct the post; raise the donation to 20 % for this year."),
            (DANIEL, D, "Approved the 20 % donation."),
        ),
        (
            Channel.INSTAGRAM,
            "A correction about our Pride collection",
            "Our Pride post said all profits go to RFSL. That was wrong: the plan was 5 %. We're sorry for the "
            "mistake. This year we are giving 20 % of the collection's profits, and we will publish the total.",
        ),
        None,
        "Our Pride post overstated the donation; we corrected it and raised the donation.",
        "Raising the donation was decided within two hours.",
        "The post's wording was never checked against the agreement.",
        "Cause-related claims are checked against the agreement before posting.",
        "Check every cause-related claim against its agreement before posting",
    ),
    Plot(
        Scenario.CONTROVERSIAL_POST,
        Severity.SEV3,
        "Hiking ad filmed in a nature reserve off-trail",
        "Hikers spotted our ad crew off-trail in a protected area; photos circulate in hiking groups.",
        (Platform.FACEBOOK, Platform.INSTAGRAM),
        (
            (ERIK, N, "Production company confirms they left the trail for the shot; no permit for that."),
            (PRIYA, D, "Report ourselves to the county board; pay for trail restoration."),
            (SOFIA, X, "Hiking group admins thanked us for the straight answer."),
        ),
        (
            Channel.FACEBOOK,
            "About our ad shoot",
            "Our film crew left the trail in Skuleskogen for an ad shot. That isn't allowed and isn't what we "
            "stand for. We're sorry. We have told the county board and will pay for trail restoration.",
        ),
        None,
        "Our ad crew went off-trail in a nature reserve; we owned up and paid for restoration.",
        "A straight answer in the hiking groups ended the discussion.",
        "Shoot permits were not checked by anyone at Northwind.",
        "Location permits are checked by us, not only by the production company.",
        "Check location permits for every shoot ourselves",
    ),
    # --- complaints ---
    Plot(
        Scenario.COMPLAINT,
        Severity.SEV2,
        "Down jackets losing feathers after one wash",
        "A YouTube review shows our Arctic down jacket shedding after one wash; 400k views.",
        (Platform.YOUTUBE, Platform.REVIEWS),
        (
            (ERIK, N, "Quality: seams of batch 24-09 were stitched with the wrong needle."),
            (MAJA, D, "Free repair or replacement for batch 24-09, no receipt needed."),
            (ERIK, A, "Batch checker live on the website."),
        ),
        (
            Channel.WEBSITE,
            "Arctic down jacket: repair or replacement",
            "Some Arctic down jackets from batch 24-09 lose down after washing because of a stitching fault. "
            "We're sorry. Check your batch number on our website: affected jackets are repaired or replaced for "
            "free, no receipt needed.",
        ),
        None,
        "A stitching fault made one batch of down jackets shed; we offered repair or replacement.",
        "Quality found the batch in an afternoon, so the offer could be specific.",
        "The reviewer had written to support a week earlier and got a standard reply.",
        "Support escalates product faults with photos to Quality the same day.",
        "Route support tickets with fault photos to Quality",
    ),
    Plot(
        Scenario.COMPLAINT,
        Severity.SEV3,
        "Delivery delays during the courier strike",
        "The courier strike delays deliveries by up to a week; complaints on every channel.",
        (Platform.X, Platform.FACEBOOK),
        (
            (ERIK, N, "Logistics: switching Stockholm and Gothenburg orders to a second courier."),
            (SOFIA, X, "Most complaints ask 'where is my order' - answered with the tracking link."),
            (ERIK, A, "Delivery estimate on the website changed to 5-8 days."),
        ),
        (
            Channel.X,
            "Deliveries and the courier strike",
            "The courier strike is delaying some deliveries by up to a week. We're sorry. We're moving orders to "
            "another courier where we can, and you can follow yours with the tracking link.",
        ),
        None,
        "A courier strike delayed deliveries for two weeks; we moved what we could to a second courier.",
        "The second courier took over the two biggest cities within two days.",
        "Delivery estimates on the site stayed optimistic for a day too long.",
        "Delivery estimates follow the couriers' own status automatically.",
        "Feed courier status into the website's delivery estimate",
    ),
    Plot(
        Scenario.COMPLAINT,
        Severity.SEV2,
        "Allergen missing from trail bar label",
        "A customer with a nut allergy reacted to our trail bar; the label does not list almonds.",
        (Platform.FACEBOOK, Platform.NEWS),
        (
            (PRIYA, D, "Recall the batch; notify the Food Agency today."),
            (ERIK, N, "Supplier confirms the recipe change was not passed on."),
            (ERIK, A, "Recall notice in stores and on the website."),
        ),
        (
            Channel.WEBSITE,
            "Recall: trail bar with undeclared almonds",
            "We are recalling Northwind trail bars with best-before dates in March. They contain almonds that are "
            "not on the label. If you have a nut allergy, do not eat them. Return them to any store for a refund. "
            "We're sorry.",
        ),
        None,
        "A supplier's recipe change put undeclared almonds in a trail bar; we recalled the batch.",
        "The recall notice was in every store within four hours.",
        "The supplier's recipe change reached us only as a new invoice line.",
        "Suppliers confirm recipe changes in writing before delivery.",
        "Add recipe-change confirmation to the food supplier contract",
        "Counsel: no comment on the customer's health; refer to the recall notice only.",
    ),
    Plot(
        Scenario.COMPLAINT,
        Severity.SEV3,
        "Returns refused in one store",
        "A TikTok shows a store refusing a return within the 30 days; the clip has 300k views.",
        (Platform.TIKTOK,),
        (
            (ERIK, N, "Store manager misread the returns policy for sale items."),
            (MAJA, D, "Call the customer, refund, and brief all store managers on the policy."),
            (SOFIA, X, "The customer posted a follow-up thanking us."),
        ),
        (
            Channel.TIKTOK,
            "About returns",
            "Our store got it wrong: sale items can be returned within 30 days like everything else. We've "
            "called the customer and refunded them, and reminded every store. Sorry!",
        ),
        None,
        "A store refused a valid return on camera; we refunded and re-briefed every store.",
        "Calling the customer personally turned the follow-up video positive.",
        "The returns policy for sale items was unclear in the store handbook.",
        "The store handbook says in one sentence that sale items follow the same returns policy.",
        "Rewrite the returns section of the store handbook",
    ),
    # --- conduct ---
    Plot(
        Scenario.CONDUCT,
        Severity.SEV2,
        "Executive's comments on a podcast about part-time staff",
        "Our COO said on a podcast that part-time staff 'don't care about the brand'; clips spread on LinkedIn.",
        (Platform.LINKEDIN, Platform.NEWS),
        (
            (ERIK, N, "Full podcast transcript reviewed; the quote is accurate."),
            (DANIEL, D, "COO apologises in his own words; internal letter to all store staff first."),
            (ERIK, A, "Internal letter sent to store staff before the public post."),
        ),
        (
            Channel.LINKEDIN,
            "An apology to our store teams",
            "On a podcast this week our COO said that part-time staff don't care about the brand. It was wrong "
            "and unfair to the people who are Northwind in our stores every day. He has apologised to them "
            "directly, and we apologise publicly.",
        ),
        None,
        "Our COO belittled part-time staff on a podcast; he apologised to the staff first, then publicly.",
        "Telling the staff first meant they heard it from us, not from the news.",
        "Nobody reviewed the podcast appearance beforehand.",
        "Executives' public appearances get a briefing from Communications.",
        "Brief executives before every podcast and interview",
    ),
    Plot(
        Scenario.CONDUCT,
        Severity.SEV3,
        "Employee's offensive post goes viral",
        "A warehouse employee's racist comment under a news article is shared with our logo.",
        (Platform.FACEBOOK, Platform.X),
        (
            (PRIYA, N, "HR process started; employee suspended pending investigation."),
            (ERIK, N, "Statement limited to our values and the process; no names."),
            (SOFIA, X, "Shares slowing after our reply."),
        ),
        (
            Channel.FACEBOOK,
            "About a post by an employee",
            "A comment by one of our employees has been shared widely. It goes against everything we stand for. "
            "The employee has been suspended while we investigate. We won't share more about an individual.",
        ),
        None,
        "An employee's racist comment was shared with our logo; we suspended them pending investigation.",
        "HR and Legal agreed the process within the hour.",
        "Our social media policy for staff was last updated in 2019.",
        "Update the staff social media policy and train managers on it.",
        "Update and relaunch the staff social media policy",
    ),
    Plot(
        Scenario.CONDUCT,
        Severity.SEV2,
        "Store staff filmed mocking a customer's accent",
        "A customer filmed two employees imitating her accent; the clip has 1M views on TikTok.",
        (Platform.TIKTOK, Platform.INSTAGRAM),
        (
            (ERIK, N, "Store manager identified the employees; both suspended."),
            (MAJA, D, "Apologise to the customer in person, with her consent, before posting."),
            (SOFIA, X, "The customer shared our apology herself."),
        ),
        (
            Channel.TIKTOK,
            "An apology",
            "Two of our staff mocked a customer's accent. It was hurtful and not who we want to be. We have "
            "apologised to her in person, the employees are suspended, and every store team is getting training.",
        ),
        None,
        "Two employees mocked a customer's accent on camera; we apologised to her in person first.",
        "Asking the customer before posting earned her public support.",
        "The store had no manager on the floor that evening.",
        "Every store has a shift lead on the floor at opening hours.",
        "Staff a shift lead for every opening hour",
    ),
    Plot(
        Scenario.CONDUCT,
        Severity.SEV3,
        "Board member's private jet photos during climate campaign",
        "Photos of a board member's private jet trips circulate during our 'travel light' campaign.",
        (Platform.X, Platform.NEWS),
        (
            (ERIK, N, "The trips were private and paid privately; the campaign is about products."),
            (DANIEL, D, "No statement; answer press questions with the board member's own comment."),
            (SOFIA, X, "Story faded after two days."),
        ),
        (
            Channel.PRESS_RELEASE,
            "Press line: board member travel",
            "The trips were private and privately paid. Northwind's own climate targets and travel policy apply "
            "to the company and are published on our website.",
        ),
        None,
        "A board member's private flights clashed with our climate campaign; we answered press questions only.",
        "Holding back from a public statement kept it a two-day story.",
        "Nobody had mapped board members' public profiles before the campaign.",
        "Campaigns on values get a quick check of leadership's public profile.",
        "Add a leadership profile check to the values-campaign brief",
    ),
    # --- misinformation ---
    Plot(
        Scenario.MISINFORMATION,
        Severity.SEV3,
        "Rumour that our stores are closing",
        "A viral post claims Northwind is closing all stores after Christmas.",
        (Platform.FACEBOOK, Platform.TIKTOK),
        (
            (ERIK, N, "Source: a misread news item about one store's lease."),
            (SOFIA, X, "Customers asking whether gift cards will still work."),
            (ERIK, A, "Store managers given the line: 'we are not closing'."),
        ),
        (
            Channel.FACEBOOK,
            "We are not closing",
            "You may have seen a post saying Northwind is closing its stores. It isn't true. One store, in "
            "Uppsala, moves to a new address in February. Gift cards work as always. See you in store!",
        ),
        None,
        "A misread lease story became a rumour that all our stores were closing.",
        "A plain 'it isn't true' with the real news stopped the shares.",
        "We didn't announce the Uppsala move ourselves, so the rumour filled the gap.",
        "Store moves are announced by us before the lease news is public.",
        "Announce store moves publicly before lease changes are filed",
    ),
    Plot(
        Scenario.MISINFORMATION,
        Severity.SEV2,
        "Fake giveaway account using our logo",
        "An Instagram account '@northwind.giveaway' asks people for card details to claim a prize.",
        (Platform.INSTAGRAM,),
        (
            (SOFIA, A, "Account reported to Instagram; story warning posted."),
            (PRIYA, N, "Trademark complaint filed with Meta."),
            (SOFIA, X, "Account removed by Instagram at 15:10."),
        ),
        (
            Channel.INSTAGRAM,
            "Warning: fake giveaway",
            "@northwind.giveaway is not us. We never ask for card details to claim a prize. Please report the "
            "account and don't share any information with it. Our only account is @northwind.",
        ),
        None,
        "A fake giveaway account used our logo to phish card details; Instagram removed it the same day.",
        "The story warning reached 60k followers in an hour.",
        "We had no verified badge, which made the fake more convincing.",
        "Get and keep verified badges on every channel.",
        "Apply for verified badges on Instagram and TikTok",
    ),
    Plot(
        Scenario.MISINFORMATION,
        Severity.SEV3,
        "False claim that our wool is from mulesed sheep",
        "An animal rights account says our merino comes from mulesed sheep; our certificate says otherwise.",
        (Platform.INSTAGRAM, Platform.X),
        (
            (ERIK, N, "Supplier's non-mulesing certificate and audit report found."),
            (SOFIA, X, "The account's post has 5k shares; we replied with the certificate."),
            (ERIK, N, "The account updated its post with our certificate."),
        ),
        (
            Channel.INSTAGRAM,
            "Our merino and mulesing",
            "We've seen posts saying our merino wool comes from mulesed sheep. It doesn't: all our merino is "
            "certified mulesing-free, and the certificate and latest audit are on our website.",
        ),
        None,
        "A post claimed our merino came from mulesed sheep; the certificate settled it.",
        "Having the audit report to hand made the correction quick and credible.",
        "The certificate wasn't on our website, so people couldn't check for themselves.",
        "Sourcing certificates are published where customers can find them.",
        "Publish sourcing certificates on the product pages",
    ),
    Plot(
        Scenario.MISINFORMATION,
        Severity.SEV2,
        "Edited screenshot of a rude support reply",
        "A screenshot of a rude 'Northwind support' reply spreads; our logs have no such message.",
        (Platform.X, Platform.REDDIT),
        (
            (ERIK, N, "Support logs checked for the date and customer: no such reply was sent."),
            (PRIYA, D, "Say it's not ours without accusing the poster of forgery."),
            (SOFIA, X, "A Reddit user found the same screenshot from another brand, edited."),
        ),
        (
            Channel.X,
            "About a support screenshot",
            "A screenshot of a rude reply from 'Northwind support' is going round. We've checked: it didn't come "
            "from us. If you ever get a reply like that from us, tell us and we'll put it right.",
        ),
        None,
        "An edited screenshot of a rude 'support reply' spread; our logs showed it never came from us.",
        "Checking the logs first meant we could say it wasn't ours with confidence.",
        "It took an afternoon to find who could search the support logs.",
        "Communications has read access to support logs during an incident.",
        "Give the on-call communications lead read access to support logs",
    ),
    Plot(
        Scenario.MISINFORMATION,
        Severity.SEV3,
        "Rumour of a product recall that doesn't exist",
        "A WhatsApp chain says our children's rain suits are recalled for toxic dye.",
        (Platform.FACEBOOK, Platform.OTHER),
        (
            (ERIK, N, "No recall; the test reports for the dye are clean."),
            (SOFIA, X, "Parents' groups asking us directly; answered with the test report."),
            (ERIK, A, "Support macro for the rumour."),
        ),
        (
            Channel.FACEBOOK,
            "No recall of children's rain suits",
            "A message says our children's rain suits are being recalled for toxic dye. There is no recall. The "
            "suits are tested by an independent lab, and the reports are on our website.",
        ),
        None,
        "A chain message invented a recall of our children's rain suits; we answered with the lab reports.",
        "Parents' groups shared our answer themselves.",
        "The lab reports were hard to find on the site.",
        "Safety test reports are one click from each children's product.",
        "Link lab reports from every children's product page",
    ),
)
